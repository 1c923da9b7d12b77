"""Python client of lash-grpc (the lash.v1 contract).

Generated stubs (run clients/python/generate.sh) plus a thin layer: Client (auth, TLS, typed
errors), TurnStream (deltas then result), observe() (resumes across disconnects) and ToolHost
(remote tools with a decorator API).
"""

from . import _stubs as pb
from .client import Client
from .errors import (
    Aborted,
    AlreadyExists,
    Cancelled,
    DeadlineExceeded,
    FailedPrecondition,
    Internal,
    InvalidArgument,
    LashError,
    NotFound,
    PermissionDenied,
    ResourceExhausted,
    Unauthenticated,
    Unavailable,
    Unimplemented,
    error_info,
    from_rpc_error,
)
from .tools import Pending, ToolFailure, ToolHost
from .turns import IncompleteTurn, TurnStream, result_text, text_input

__all__ = [
    "Aborted", "AlreadyExists", "Cancelled", "Client", "DeadlineExceeded", "FailedPrecondition",
    "IncompleteTurn", "Internal", "InvalidArgument", "LashError", "NotFound", "Pending",
    "PermissionDenied", "ResourceExhausted", "ToolFailure", "ToolHost", "TurnStream",
    "Unauthenticated", "Unavailable", "Unimplemented", "error_info", "from_rpc_error", "pb",
    "result_text", "text_input",
]
