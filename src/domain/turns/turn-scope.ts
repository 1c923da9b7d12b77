// What the tools of one turn share: work the turn must not commit before (child turns it
// started, which may outlive the tool call that started them after a cancel or a block's time
// limit), and counters of limited things the turn did (children created).

export class TurnScope {
  private readonly held = new Set<Promise<void>>();
  private readonly counts = new Map<string, number>();

  /** The turn commits only after `work` has settled (child turns commit before their parent). */
  hold(work: Promise<unknown>): void {
    const settled: Promise<void> = work
      .then(
        () => {},
        () => {},
      )
      .finally(() => this.held.delete(settled));
    this.held.add(settled);
  }

  /** Waits for all held work, including work held while waiting. */
  async settle(): Promise<void> {
    while (this.held.size) await Promise.all([...this.held]);
  }

  /** Takes one of `limit` units of `key` for this turn; false when they are all taken. */
  take(key: string, limit: number): boolean {
    const used = this.counts.get(key) ?? 0;
    if (used >= limit) return false;
    this.counts.set(key, used + 1);
    return true;
  }

  /** Gives back a unit whose use did not happen (the creation failed). */
  giveBack(key: string): void {
    this.counts.set(key, Math.max(0, (this.counts.get(key) ?? 0) - 1));
  }
}

/** Runs a turn loop in its own scope and returns only once everything it held has settled. */
export async function withTurnScope<E extends { scope?: TurnScope }, R>(env: E, loop: (env: E & { scope: TurnScope }) => Promise<R>): Promise<R> {
  const scope = env.scope ?? new TurnScope();
  try {
    return await loop({ ...env, scope });
  } finally {
    await scope.settle();
  }
}
