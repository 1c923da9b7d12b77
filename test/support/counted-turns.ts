// What the e2e files that count a turn's statements share (hot path, known start, stream before
// commit): a server with nothing of its own in the background — echo model, no queue workers or
// process runners, a health probe too slow to land inside a measurement — so the store's trace
// holds only the turns' statements, and how to tell a turn's commit in that trace.

/** Server variables for statement counting; `lingerMs` is the writer lease's idle linger (ADR 0079). */
export function quietServerEnv(lingerMs = '600000'): Record<string, string> {
  return {
    LASH_DEFAULT_PROVIDER: 'echo',
    LASH_QUEUE_WORKERS: '0',
    LASH_PROCESS_RUNNERS: '0',
    LASH_HEALTH_PROBE_MS: '600000',
    LASH_WRITER_LINGER_MS: lingerMs,
  };
}

/** Whether a traced statement is a turn's commit (the head update with everything it stores). */
export const isCommitStatement = (text: string): boolean => /^with h as \( update sessions\b/.test(text);
