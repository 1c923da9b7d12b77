// The inspector page in a real browser: Debian's /usr/bin/chromium driven by playwright-core
// against a real server (HTTP listener on) and the fake model server. It lists sessions and
// filters them by label, runs a turn from the page and watches its deltas and a tool call arrive,
// shows a turn's image input from its bytes, cancels a running turn, resumes the live feed after
// a reload mid-turn and reconnects it after a server restart (with a retried model call). With
// INSPECTOR_SCREENSHOTS=1 it also rewrites docs/inspector-*.png.

import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OpenSessionRequest } from '../../gen/lash/v1/session_service.js';
import { credentials } from '@grpc/grpc-js';
import { withToken } from '../../src/client/bearer.js';
import { connect } from '../../src/client/promised.js';
import { writeTokens } from '../support/auth.js';
import { engines } from '../support/engines.js';
import { startFakeModelServer, type FakeModelServer } from '../support/fake-model-server.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { runTurn } from '../support/turns.js';

/** A 1×1 PNG. */
const PNG = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==', 'base64');

const CHROMIUM = '/usr/bin/chromium';
const haveChromium = existsSync(CHROMIUM);
const screenshots = process.env.INSPECTOR_SCREENSHOTS === '1';
const docs = (name: string) => fileURLToPath(new URL(`../../docs/inspector-${name}.png`, import.meta.url));
const pglite = engines.find((e) => e.name === 'pglite')!;

if (!haveChromium) {
  // Visible in the run's output: CI installs chromium (.ci/run), a dev machine may not have it.
  console.warn(`inspector browser tests skipped: ${CHROMIUM} is absent (apt-get install -y chromium)`);
}

/** One browser for the file (each suite has its own page and server). */
let browser: Browser;
beforeAll(async () => {
  if (haveChromium && pglite.enabled)
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'] });
});
afterAll(async () => {
  await browser?.close();
});

describe.skipIf(!haveChromium || !pglite.enabled)('inspector page in Chromium (PGlite)', () => {
  let fake: FakeModelServer;
  let s: TestServer;
  let page: Page;
  let base: string;

  /** Starts a turn with the page's button; returns the live feed's block of that turn. */
  const startTurn = async (text: string) => {
    await page.fill('#turn-input', text);
    await page.click('#start-turn');
    const started = await page.locator('#action-result', { hasText: 'started turn' }).textContent();
    return page.locator(`#feed section.turn[data-turn="${started!.replace('started turn ', '')}"]`);
  };
  const openSessionPage = async (id: string) => {
    await page.goto(`${base}/inspector/#/s/${id}`);
    await page.locator('#feed-state.live').waitFor();
  };
  /** Records every distinct text the newest turn's prose shows, from now on (in the page). */
  const recordProse = () =>
    page.evaluate(() => {
      const seen: string[] = [];
      (window as unknown as { seenProse: string[] }).seenProse = seen;
      const feed = document.getElementById('feed')!;
      new MutationObserver(() => {
        const all = feed.querySelectorAll('section.turn .prose');
        const text = all[all.length - 1]?.textContent ?? '';
        if (text && seen.at(-1) !== text) seen.push(text);
      }).observe(feed, { subtree: true, childList: true, characterData: true });
    });
  const seenProse = () => page.evaluate(() => (window as unknown as { seenProse: string[] }).seenProse);

  beforeAll(async () => {
    fake = await startFakeModelServer();
    s = await startTestServer(pglite, {
      LASH_HTTP_LISTEN: '127.0.0.1:0',
      OPENAI_BASE_URL: fake.url,
      LASH_DEFAULT_PROVIDER: 'openai-compatible',
      LASH_DEFAULT_MODEL: 'fake-model',
      LASH_TOOLS: 'calculate',
      LASH_FEED_HEARTBEAT_MS: '500',
    });
    base = `http://${s.app.httpAddress}`;
    await s.clients.sessions.openSession(OpenSessionRequest.fromPartial({ sessionId: 'ops-agent', metadata: { team: 'ops' } }));
    await s.clients.sessions.openSession(OpenSessionRequest.fromPartial({ sessionId: 'dev-agent', metadata: { team: 'dev' } }));
    page = await browser.newPage({ viewport: { width: 1280, height: 860 } });
    page.setDefaultTimeout(15_000);
    page.on('pageerror', (err) => console.error('inspector page error:', err));
  });
  afterAll(async () => {
    await s?.close();
    await fake?.close();
  });

  it('serves the page without auth and lists sessions with status, turns and labels, filtered by label', async () => {
    const apiCalls: (string | undefined)[] = [];
    page.on('request', (r) => {
      if (r.url().includes('/lash.v1.')) apiCalls.push(r.headers().authorization);
    });
    await page.goto(`${base}/inspector/`);
    const row = page.locator('tr[data-session="ops-agent"]');
    await row.waitFor();
    expect(await row.locator('.status').textContent()).toBe('idle');
    expect(await row.locator('td.labels').textContent()).toBe('team=ops');
    await page.locator('tr[data-session="dev-agent"]').waitFor();
    await page.fill('#filter', 'team=ops');
    await page.press('#filter', 'Enter');
    await page.locator('tr[data-session="dev-agent"]').waitFor({ state: 'detached' });
    expect(await page.locator('#sessions tbody tr').count()).toBe(1);
    // The token field: every API call from then on carries it as a bearer token.
    await page.fill('#token', 'tok-123');
    await page.click('#save-token');
    await page.waitForResponse((r) => r.url().includes('ListSessions') && r.request().headers().authorization === 'Bearer tok-123');
    expect(apiCalls[0]).toBeUndefined();
    await page.fill('#token', '');
    await page.click('#save-token');
  });

  it('runs a turn from the page: deltas stream in, the calculate tool call shows, the commit lands', async () => {
    fake.script(
      { steps: [{ toolCall: { name: 'calculate', args: { op: 'multiply', a: 6, b: 7 }, id: 'calc-1' } }] },
      { steps: [{ text: 'The answer ' }, { delayMs: 250 }, { text: 'is ' }, { delayMs: 250 }, { text: '42.' }] },
    );
    await openSessionPage('ops-agent');
    await recordProse();
    const turn = await startTurn('what is six times seven?');
    const call = turn.locator('.tool-call[data-call="calc-1"]');
    await call.waitFor();
    expect(await call.textContent()).toContain('calculate');
    expect(await call.locator('.args').textContent()).toContain('"multiply"');
    expect(await turn.locator('.tool-result[data-call="calc-1"] pre').textContent()).toContain('42');
    await turn.locator('.ev.committed').waitFor();
    expect(await turn.locator('.prose').textContent()).toBe('The answer is 42.');
    // The deltas arrived one by one: the page showed partial text before the whole.
    const seen = await seenProse();
    expect(seen[0]).toBe('The answer ');
    expect(seen.at(-1)).toBe('The answer is 42.');
    // The read view reloads after the commit: the conversation holds the call, its result, the answer.
    await page.locator('#conversation .tool-result[data-call="calc-1"]').waitFor();
    expect(await page.locator('#conversation .message.user').first().textContent()).toContain('what is six times seven?');
    expect(await page.locator('#conversation .message.assistant').last().textContent()).toContain('The answer is 42.');
    await page.locator('#usage svg.usage').waitFor();
    expect(await page.locator('#tools').textContent()).toContain('calculate');
    if (screenshots) {
      await page.screenshot({ path: docs('session'), fullPage: true });
      await page.goto(`${base}/inspector/`);
      await page.locator('tr[data-session="ops-agent"]').waitFor();
      await page.screenshot({ path: docs('sessions') });
    }
  });

  it('shows an image of the conversation from its bytes (GetAttachment), loaded when it comes into view', async () => {
    await s.clients.sessions.openSession(OpenSessionRequest.fromPartial({ sessionId: 'vision-agent' }));
    fake.script({ steps: [{ text: 'a single pixel' }] });
    await runTurn(s.clients, {
      sessionId: 'vision-agent',
      input: {
        items: [{ item: { $case: 'text', value: { text: 'what is this?' } } }, { item: { $case: 'imageRef', value: { id: 'px' } } }],
        imageBlobs: { px: { data: PNG, mimeType: 'image/png' } },
      },
    });
    const fetched = page.waitForResponse((r) => r.url().endsWith('/lash.v1.SessionService/GetAttachment') && r.ok());
    await openSessionPage('vision-agent');
    const img = page.locator('#conversation .message.user img.attachment');
    await img.waitFor();
    await fetched;
    await page.waitForFunction(() => {
      const el = document.querySelector<HTMLImageElement>('#conversation img.attachment');
      return !!el && el.complete && el.src.startsWith('blob:');
    });
    // The browser decoded the PNG: a 1×1 image, not a broken one (naturalWidth 0).
    expect(await img.evaluate((el: HTMLImageElement) => [el.naturalWidth, el.naturalHeight])).toEqual([1, 1]);
  });

  it('cancels a running turn from the page', async () => {
    fake.script({ steps: [{ text: 'working on it' }, { hang: true }] });
    await openSessionPage('dev-agent');
    const turn = await startTurn('a long job');
    await turn.locator('.prose', { hasText: 'working on it' }).waitFor();
    await page.locator('#session-status.running').waitFor();
    await page.click('#cancel');
    await page.locator('#action-result', { hasText: 'cancelled 1 turn(s)' }).waitFor();
    await turn.locator('.ev.committed, .ev.interrupted').first().waitFor();
    await page.locator('#session-status.idle').waitFor();
  });

  it('resumes the live feed from its cursor after a reload mid-turn', async () => {
    await openSessionPage('ops-agent');
    fake.script({ steps: [{ text: 'one ' }, { delayMs: 600 }, { text: 'two ' }, { delayMs: 600 }, { text: 'three' }] });
    const turn = await startTurn('count to three');
    await turn.locator('.prose', { hasText: 'one' }).waitFor();
    if (screenshots) {
      await page.locator('#session-status.running').waitFor();
      await page.screenshot({ path: docs('live') });
    }
    expect(await turn.locator('.ev.committed').count()).toBe(0);
    await page.reload();
    await page.locator('#feed-state', { hasText: 'resumed from cursor' }).waitFor();
    // The running turn is replayed from the stored cursor (its first delta came before the
    // reload), then followed live to its commit.
    await turn.locator('.ev.committed').waitFor();
    expect(await turn.locator('.prose').textContent()).toBe('one two three');
  });

  // Last: it restarts the server.
  it('reconnects the live feed from its cursor after a server restart', async () => {
    await openSessionPage('dev-agent');
    const port = s.app.httpAddress!.split(':').pop()!;
    await s.stop();
    await page.locator('#feed-state.down').waitFor();
    s = await s.restart({ LASH_HTTP_LISTEN: `127.0.0.1:${port}` });
    await page.locator('#feed-state', { hasText: 'reconnected from cursor' }).waitFor();
    // The first model call fails retryably: the retry shows in the feed before the answer.
    fake.script({ error: { status: 503, message: 'overloaded, try later' } }, { steps: [{ text: 'after the restart' }] });
    const turn = await startTurn('still there?');
    await turn.locator('.ev.committed').waitFor();
    expect(await turn.locator('.prose').textContent()).toBe('after the restart');
    expect(await turn.locator('.ev.retry').textContent()).toMatch(/^retry 1\/3 in .* s: .*overloaded/);
  });
});

describe.skipIf(!haveChromium || !pglite.enabled)('inspector page with authentication on (PGlite)', () => {
  let s: TestServer;
  let page: Page;
  let dir: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'lash-inspector-auth-'));
    writeTokens(join(dir, 'tokens.json'), [
      { name: 'ops-admin', token: 'tok-admin', tenant: 't1', roles: ['admin'] },
      { name: 'watcher', token: 'tok-observer', tenant: 't1', roles: ['observer'] },
    ]);
    s = await startTestServer(
      pglite,
      { LASH_HTTP_LISTEN: '127.0.0.1:0', LASH_AUTH_TOKENS_FILE: join(dir, 'tokens.json') },
      { clients: (address) => connect(address, credentials.createInsecure(), withToken('tok-admin')) },
    );
    await s.clients.sessions.openSession(OpenSessionRequest.fromPartial({ sessionId: 'guarded', spec: { providerId: 'echo', model: { id: 'echo' } } }));
    page = await browser.newPage();
    page.setDefaultTimeout(15_000);
  });
  afterAll(async () => {
    await s?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('serves the page without a token, but every API call needs one and the server decides each action by role', async () => {
    const base = `http://${s.app.httpAddress}`;
    const html = await fetch(`${base}/inspector/`);
    expect(html.status).toBe(200);
    await page.goto(`${base}/inspector/`);
    // No token: the list call is refused by the normal auth, and the page says so.
    await page.locator('p.note.error', { hasText: 'Unauthenticated' }).waitFor();
    await page.fill('#token', 'tok-observer');
    await page.click('#save-token');
    await page.locator('tr[data-session="guarded"]').waitFor();
    // An observer may look but not delete: the refusal carries the role reason.
    page.once('dialog', (d) => void d.accept());
    await page.goto(`${base}/inspector/#/s/guarded`);
    await page.locator('#feed-state.live').waitFor();
    await page.click('#delete');
    await page.locator('#action-result.error', { hasText: 'PermissionDenied' }).waitFor();
    expect((await s.clients.sessions.getSession({ sessionId: 'guarded' })).session?.sessionId).toBe('guarded');
    // The admin token may.
    await page.fill('#token', 'tok-admin');
    await page.click('#save-token');
    await page.locator('#feed-state.live').waitFor();
    page.once('dialog', (d) => void d.accept());
    await page.click('#delete');
    await page.waitForURL((url) => url.hash === '#/');
    expect((await s.clients.sessions.listSessions({ pageSize: 10, pageToken: '', filter: undefined })).sessions).toHaveLength(0);
  });
});
