// Images of the conversation, shown from their bytes: an <img> whose source is fetched with
// GetAttachment (range by range: one answer holds at most 3 MiB) only once it scrolls into view
// (a long session may hold many images), kept as a blob URL per attachment id so that a re-render
// of the conversation does not fetch it again.

import type { Api } from './api.js';
import { h } from './dom.js';

/** Blob URLs by session and attachment id; attachments are content-addressed, so they never change. */
const urls = new Map<string, Promise<string>>();

function blobUrl(api: Api, sessionId: string, attachmentId: string): Promise<string> {
  const key = `${sessionId}\u0000${attachmentId}`;
  let url = urls.get(key);
  if (!url) {
    url = readWhole(api, sessionId, attachmentId).then(({ mediaType, pieces }) =>
      URL.createObjectURL(new Blob(pieces, { type: mediaType || 'application/octet-stream' })),
    );
    url.catch(() => urls.delete(key)); // a failed fetch is tried again on the next render
    urls.set(key, url);
  }
  return url;
}

/** Most bytes one GetAttachment answer holds: larger images are read range by range. */
const RANGE_BYTES = 3 * 1024 * 1024;

async function readWhole(api: Api, sessionId: string, attachmentId: string): Promise<{ mediaType: string; pieces: Uint8Array<ArrayBuffer>[] }> {
  const pieces: Uint8Array<ArrayBuffer>[] = [];
  let offset = 0;
  for (;;) {
    // Proto JSON carries bytes as base64 and 64-bit integers as strings.
    const a = await api.call('SessionService', 'GetAttachment', { sessionId, attachmentId, offset: String(offset), length: RANGE_BYTES });
    const data = Uint8Array.from(atob(String(a.data ?? '')), (c) => c.charCodeAt(0));
    pieces.push(data);
    offset += data.length;
    if (data.length === 0 || offset >= Number(a.totalBytes ?? 0)) return { mediaType: String(a.mediaType ?? ''), pieces };
  }
}

let watcher: IntersectionObserver | undefined;
const pending = new WeakMap<Element, () => void>();

/** An <img> for an attachment of `sessionId`, loaded when it becomes visible. */
export function attachmentImage(api: Api, sessionId: string, attachmentId: string, mimeType: string): HTMLElement {
  const img = h('img.attachment', { alt: `image ${attachmentId} (${mimeType})`, 'data-attachment': attachmentId }) as HTMLImageElement;
  const load = () =>
    blobUrl(api, sessionId, attachmentId).then(
      (url) => (img.src = url),
      (err: unknown) => {
        img.replaceWith(h('p.error', {}, `image ${attachmentId} could not be loaded: ${api.describe(err)}`));
      },
    );
  watcher ??= new IntersectionObserver((entries) => {
    for (const e of entries) {
      if (!e.isIntersecting) continue;
      watcher!.unobserve(e.target);
      pending.get(e.target)?.();
      pending.delete(e.target);
    }
  });
  pending.set(img, () => void load());
  watcher.observe(img);
  return img;
}
