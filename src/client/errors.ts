// Typed errors of the TypeScript client: a failed call becomes a LashError carrying the gRPC code
// and the google.rpc.ErrorInfo the server put in the `grpc-status-details-bin` trailer (reason,
// domain, the ids involved). Callers branch on `code` or `reason`, never on message text.

import { status, type ServiceError } from '@grpc/grpc-js';
import { ErrorInfo } from '../../gen/google/rpc/error_details.js';
import { Status } from '../../gen/google/rpc/status.js';

const DETAILS_KEY = 'grpc-status-details-bin';
const ERROR_INFO_TYPE = 'type.googleapis.com/google.rpc.ErrorInfo';

export class LashError extends Error {
  constructor(
    /** gRPC status code (see `status` of @grpc/grpc-js). */
    readonly code: status,
    /** The server's message: what to change. */
    readonly details: string,
    /** ErrorInfo reason, e.g. SESSION_NOT_FOUND; undefined for transport failures. */
    readonly reason?: string,
    readonly domain?: string,
    readonly metadata: Record<string, string> = {},
  ) {
    super(`${status[code] ?? code}${reason ? ` ${reason}` : ''}: ${details}`);
    this.name = 'LashError';
  }

  /**
   * True when the same request may succeed if sent again later, as the server says in the
   * ErrorInfo (`metadata.retryable`, from its reason catalogue); without one (a transport failure)
   * only UNAVAILABLE is.
   */
  get retryable(): boolean {
    const said = this.metadata.retryable;
    return said === undefined ? this.code === status.UNAVAILABLE : said === 'true';
  }

  /** The server or the connection was unreachable: the call can be re-opened as it was. */
  get unavailable(): boolean {
    return this.code === status.UNAVAILABLE;
  }
}

/** The ErrorInfo detail of a failed call, if the server sent one. */
export function errorInfoOf(err: Pick<ServiceError, 'metadata'>): ErrorInfo | undefined {
  const raw = err.metadata?.get(DETAILS_KEY)[0];
  if (!raw) return undefined;
  const st = Status.decode(typeof raw === 'string' ? Buffer.from(raw, 'base64') : raw);
  const any = st.details.find((d) => d.typeUrl === ERROR_INFO_TYPE);
  return any ? ErrorInfo.decode(any.value) : undefined;
}

/** A LashError for anything a call rejected with (a grpc-js ServiceError, or an abort). */
export function toLashError(err: unknown): LashError {
  if (err instanceof LashError) return err;
  const e = err as Partial<ServiceError>;
  if (typeof e?.code === 'number') {
    const info = e.metadata ? errorInfoOf(e as ServiceError) : undefined;
    return new LashError(e.code, e.details ?? e.message ?? '', info?.reason, info?.domain, info?.metadata ?? {});
  }
  return new LashError(status.UNKNOWN, err instanceof Error ? err.message : String(err));
}

/** The error of an aborted call: CANCELLED, with the signal's reason as the message. */
export function abortError(signal: AbortSignal): LashError {
  const why = signal.reason instanceof Error ? signal.reason.message : String(signal.reason ?? 'aborted');
  return new LashError(status.CANCELLED, `cancelled by the caller: ${why}`);
}
