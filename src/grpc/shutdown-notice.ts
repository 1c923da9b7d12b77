// A shutdown drain announced to long-lived streams (ObserveSession, ServeTools). Each stream registers
// what to do when its replica shuts down and unregisters when it ends, so open streams hold one entry
// each and finished ones none. A stream that arrives after the shutdown began is told at once: on a
// draining replica it must not wait for the grace to cut it (which proxies report as INTERNAL).

export class ShutdownNotice {
  private readonly waiting = new Set<() => void>();
  private started = false;

  /** Runs `fn` when the shutdown starts, at once if it has. Returns the undo of the registration. */
  on(fn: () => void): () => void {
    if (this.started) {
      fn();
      return () => {};
    }
    this.waiting.add(fn);
    return () => this.waiting.delete(fn);
  }

  start(): void {
    if (this.started) return;
    this.started = true;
    const all = [...this.waiting];
    this.waiting.clear();
    all.forEach((fn) => fn());
  }

  /** Registrations waiting for the shutdown (tests check that ended streams leave none). */
  get size(): number {
    return this.waiting.size;
  }
}
