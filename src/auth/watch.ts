// Follows a file by polling its stat (works for in-place edits and for editors or secret managers
// that replace the file by renaming): on a change the new text is handed to `apply`; if reading
// or applying fails, the previous state stays and the error is reported.

import { readFile } from 'node:fs/promises';
import { unwatchFile, watchFile, type Stats } from 'node:fs';

export function watchText(path: string, intervalMs: number, apply: (text: string) => void, onError: (err: Error) => void): () => void {
  const listener = (now: Stats, before: Stats) => {
    if (now.mtimeMs === before.mtimeMs && now.size === before.size && now.ino === before.ino) return;
    readFile(path, 'utf8')
      .then(apply)
      .catch((err: unknown) => onError(err as Error));
  };
  watchFile(path, { interval: intervalMs, persistent: false }, listener);
  return () => unwatchFile(path, listener);
}
