// The "Error reasons" section of docs/api.md, rendered from the catalogue
// (src/domain/error-reasons.ts): one row per reason with its status code, whether a client may
// retry it and its meaning. Shared by scripts/api-reference.ts, which writes it, and the unit test
// that checks the committed reference still matches the catalogue.

import { ERROR_REASONS, type ReasonSpec } from '../src/domain/error-reasons.js';

/** The section's lines, headed `## Error reasons`, reasons in alphabetical order. */
export function errorReasonsSection(): string[] {
  const rows = (Object.entries(ERROR_REASONS) as [string, ReasonSpec][]).sort(([a], [b]) => a.localeCompare(b));
  const code = (s: ReasonSpec) => (s.permanentCode ? `${s.code} or ${s.permanentCode}` : s.code);
  const retry = (s: ReasonSpec) => (s.retryable ? (s.permanentCode ? `yes (as ${s.code})` : 'yes') : 'no');
  return [
    '## Error reasons',
    '',
    '`ErrorInfo.reason` values the server sends, with their gRPC status code, whether the same call may',
    'succeed when sent again later (also in `ErrorInfo.metadata["retryable"]`, `"true"` or `"false"`)',
    'and what they mean. Branch on these (the Python client raises a class per code with `.reason`;',
    'the TypeScript client a `LashError` with `.reason`), never on message text. `ErrorInfo.metadata`',
    'carries the ids involved. Generated from `src/domain/error-reasons.ts`.',
    '',
    '| Reason | gRPC code | Retryable | Meaning |',
    '| --- | --- | --- | --- |',
    ...rows.map(([reason, s]) => `| \`${reason}\` | ${code(s)} | ${retry(s)} | ${s.meaning.replace(/\|/g, '\\|')} |`),
    '',
  ];
}
