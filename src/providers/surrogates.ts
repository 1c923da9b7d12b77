// Keeps a model's characters whole across stream chunks. Providers split text at UTF-16 code
// unit boundaries (JSON escapes "\ud83d" then "\udc68" in two chunks), and a lone half encoded to
// UTF-8 becomes U+FFFD on the wire and in every client. A high surrogate at the end of a chunk is
// held until its pair arrives; a half that never finds its pair is the provider's error and is
// reported as such, never silently replaced.

export class SurrogateJoiner {
  private held = '';

  /** The text that can go out now (possibly empty, while a half waits for its pair). */
  push(chunk: string): string {
    const text = this.held + chunk;
    this.held = '';
    if (text.length === 0) return text;
    const last = text.charCodeAt(text.length - 1);
    const out = last >= 0xd800 && last <= 0xdbff ? ((this.held = text.slice(-1)), text.slice(0, -1)) : text;
    const lone = loneSurrogateAt(out);
    if (lone >= 0) throw new LoneSurrogateError(out.charCodeAt(lone));
    return out;
  }

  /** At the end of the stream: a held half never got its pair. */
  end(): void {
    if (this.held) throw new LoneSurrogateError(this.held.charCodeAt(0));
  }
}

export class LoneSurrogateError extends Error {
  constructor(unit: number) {
    super(`the model stream sent half of a character (lone UTF-16 surrogate U+${unit.toString(16).toUpperCase()}) that no chunk completed`);
  }
}

/** Index of the first unpaired surrogate, or -1 (the common case costs one regex test). */
function loneSurrogateAt(s: string): number {
  const m = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/.exec(s);
  return m ? m.index : -1;
}
