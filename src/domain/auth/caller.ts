// Who a request context speaks for, as audit records and tool bindings name it: the principal's
// subject and identity source, or "anonymous" when no authenticator ran (zero-setup mode).

import type { RequestContext } from '../ports.js';
import type { IdentitySource } from './principal.js';

export const ANONYMOUS_SUBJECT = 'anonymous';

export const subjectOf = (ctx: RequestContext): string => ctx.principal?.subject ?? ANONYMOUS_SUBJECT;

export const identitySourceOf = (ctx: RequestContext): IdentitySource => ctx.principal?.source ?? 'anonymous';
