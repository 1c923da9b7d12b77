"""Typed errors of lash.v1 calls, decoded from the google.rpc.Status the server sends.

Every failure the server means (bad input, unknown session, conflicts) carries a google.rpc.Status
in the `grpc-status-details-bin` trailer with an ErrorInfo detail: a stable UPPER_SNAKE `reason`,
the `domain` and the ids involved (`metadata`). Callers branch on the class (the gRPC code) or on
`reason`, never on the message text.
"""

from __future__ import annotations

import grpc

from ._stubs import error_details_pb2, status_pb2

_DETAILS_KEY = "grpc-status-details-bin"


class LashError(Exception):
    """A failed lash.v1 call: gRPC `code`, ErrorInfo `reason`/`domain`/`metadata`, server `message`."""

    code: grpc.StatusCode = grpc.StatusCode.UNKNOWN
    #: True when the same request may succeed if sent again later (after a backoff).
    retryable = False

    def __init__(self, code: grpc.StatusCode, message: str, reason: str | None = None,
                 domain: str | None = None, metadata: dict[str, str] | None = None):
        super().__init__(f"{code.name}{f' {reason}' if reason else ''}: {message}")
        self.code = code
        self.message = message
        self.reason = reason
        self.domain = domain
        self.metadata = dict(metadata or {})
        # The server says per reason whether a retry may succeed (ErrorInfo metadata
        # `retryable`, from its reason catalogue); the class default covers transport failures.
        said = self.metadata.get("retryable")
        if said is not None:
            self.retryable = said == "true"


class InvalidArgument(LashError):
    """The request is malformed; the message says which field to change."""


class NotFound(LashError):
    """A named session, turn, node or batch does not exist."""


class AlreadyExists(LashError):
    """An id is taken, e.g. a turn id reused with different input."""


class FailedPrecondition(LashError):
    """The request is valid but the session's state does not allow it now."""


class Aborted(LashError):
    """A concurrent change won (revision or generation conflict); read again and retry."""

    retryable = True


class ResourceExhausted(LashError):
    """A limit was reached (sizes, slots, observers); the metadata names it."""


class Unauthenticated(LashError):
    """No or an invalid bearer token."""


class PermissionDenied(LashError):
    """The token is valid but may not do this."""


class DeadlineExceeded(LashError):
    """The call's deadline passed before it finished."""

    retryable = True


class Cancelled(LashError):
    """The call was cancelled (by the caller, or by a turn cancel)."""


class Unavailable(LashError):
    """The server or its store cannot be reached right now; retry with backoff."""

    retryable = True


class Unimplemented(LashError):
    """The server does not offer this capability."""


class Internal(LashError):
    """A server bug; `metadata['correlation_id']` names the logged cause."""


_CLASSES: dict[grpc.StatusCode, type[LashError]] = {
    grpc.StatusCode.INVALID_ARGUMENT: InvalidArgument,
    grpc.StatusCode.NOT_FOUND: NotFound,
    grpc.StatusCode.ALREADY_EXISTS: AlreadyExists,
    grpc.StatusCode.FAILED_PRECONDITION: FailedPrecondition,
    grpc.StatusCode.ABORTED: Aborted,
    grpc.StatusCode.RESOURCE_EXHAUSTED: ResourceExhausted,
    grpc.StatusCode.UNAUTHENTICATED: Unauthenticated,
    grpc.StatusCode.PERMISSION_DENIED: PermissionDenied,
    grpc.StatusCode.DEADLINE_EXCEEDED: DeadlineExceeded,
    grpc.StatusCode.CANCELLED: Cancelled,
    grpc.StatusCode.UNAVAILABLE: Unavailable,
    grpc.StatusCode.UNIMPLEMENTED: Unimplemented,
    grpc.StatusCode.INTERNAL: Internal,
}


# Codes a new connection may cure. CANCELLED/INTERNAL/UNKNOWN without an ErrorInfo reason come
# from the transport (a stream reset while the server stops), not from the service.
_TRANSIENT = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED, grpc.StatusCode.INTERNAL,
              grpc.StatusCode.UNKNOWN, grpc.StatusCode.DEADLINE_EXCEEDED}


def is_transient(err: LashError) -> bool:
    """True for a lost connection (worth reconnecting), False for the service's own refusals."""
    return err.code in _TRANSIENT and (err.reason is None or err.code == grpc.StatusCode.UNAVAILABLE)


def error_info(err: grpc.RpcError) -> error_details_pb2.ErrorInfo | None:
    """The ErrorInfo detail of a failed call's google.rpc.Status, or None when it has none."""
    trailers = err.trailing_metadata() if hasattr(err, "trailing_metadata") else None
    for key, value in trailers or ():
        if key != _DETAILS_KEY:
            continue
        status = status_pb2.Status.FromString(value)
        for detail in status.details:
            if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
                info = error_details_pb2.ErrorInfo()
                detail.Unpack(info)
                return info
    return None


def from_rpc_error(err: grpc.RpcError) -> LashError:
    """The typed error of a failed call (a grpc.RpcError raised by a stub)."""
    code = err.code() if hasattr(err, "code") else grpc.StatusCode.UNKNOWN
    message = err.details() if hasattr(err, "details") else str(err)
    info = error_info(err)
    cls = _CLASSES.get(code, LashError)
    return cls(code, message or "", info.reason if info else None, info.domain if info else None,
               dict(info.metadata) if info else None)
