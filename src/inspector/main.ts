// The inspector page: the token field, and a hash router between the sessions list (#/) and one
// session (#/s/<id>). Everything it shows comes through the lash.v1 API over the Connect protocol.

import { connectApi, token } from './api.js';
import { h } from './dom.js';
import { showList } from './list.js';
import { showSession } from './session.js';

async function main(): Promise<void> {
  const root = document.getElementById('app')!;
  const field = h('input#token', {
    type: 'password',
    placeholder: 'bearer token (empty if auth is off)',
    value: token.get(),
    autocomplete: 'off',
  }) as HTMLInputElement;
  const save = h(
    'button#save-token',
    {
      onclick: () => {
        token.set(field.value.trim());
        route();
      },
    },
    'Use token',
  );
  document.getElementById('auth')!.append(field, save);
  // The API is served at the root of the listener the page came from (the page is /inspector/).
  const api = await connectApi(new URL('..', location.href).href.replace(/\/$/, ''), new URL('descriptors.binpb', location.href).href);
  let stop: (() => void) | undefined;
  const route = () => {
    stop?.();
    const m = /^#\/s\/([^?]+)/.exec(location.hash);
    stop = m ? showSession(api, root, decodeURIComponent(m[1]!)) : showList(api, root);
  };
  window.addEventListener('hashchange', route);
  route();
}

main().catch((err: unknown) => {
  document.getElementById('app')!.textContent = `The inspector could not start: ${String(err)}`;
});
