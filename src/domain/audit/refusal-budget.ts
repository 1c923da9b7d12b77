// How many refusals of unauthenticated writes reach the audit table. Anyone who can reach the
// port can send bad credentials, as fast as they like; each such refusal is logged, but only a
// bounded number per minute becomes a row: the same refusal (same tenant, mechanism, caller,
// method and reason) once per minute, and at most `perMinute` rows per minute in all. What is
// left out is counted, so a flood shows in metrics and in one log line per minute, and the table
// grows by at most perMinute × 60 × retention hours rows per process, whatever the attacker does.

export interface RefusalBudgetStats {
  /** Refusals passed on to the audit trail. */
  recorded: number;
  /** Refusals left out (a repeat within its minute, or past the minute's budget). */
  suppressed: number;
}

export class RefusalBudget {
  private window = -1;
  private admitted = new Set<string>();
  private suppressedInWindow = 0;
  private readonly counts = { recorded: 0, suppressed: 0 };

  constructor(
    private readonly perMinute: number,
    /** Called once when a minute with suppressed refusals is over (the next refusal notices). */
    private readonly onSuppressed?: (count: number) => void,
    private readonly now: () => number = Date.now,
  ) {}

  /** Whether a refusal with this identity (tenant, mechanism, caller, method, reason) gets a row. */
  admit(key: string): boolean {
    const minute = Math.floor(this.now() / 60_000);
    if (minute !== this.window) {
      if (this.suppressedInWindow > 0) this.onSuppressed?.(this.suppressedInWindow);
      this.window = minute;
      this.admitted = new Set();
      this.suppressedInWindow = 0;
    }
    if (this.admitted.has(key) || this.admitted.size >= this.perMinute) {
      this.counts.suppressed++;
      this.suppressedInWindow++;
      return false;
    }
    this.admitted.add(key);
    this.counts.recorded++;
    return true;
  }

  stats(): RefusalBudgetStats {
    return { ...this.counts };
  }
}
