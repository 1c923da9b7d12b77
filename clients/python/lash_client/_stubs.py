"""Loads the generated lash.v1 stubs (clients/python/generated, made by generate.sh).

protoc writes absolute imports ("from lash.v1 import common_pb2"), so the generated tree has to be
on sys.path; this module puts it there once and fails with the command to run when it is missing.
"""

import os
import sys

_GENERATED = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "generated")

if not os.path.isdir(os.path.join(_GENERATED, "lash", "v1")):
    raise ImportError(
        f"the lash.v1 Python stubs are missing from {_GENERATED}; run clients/python/generate.sh "
        "(needs: apt-get install protobuf-compiler protobuf-compiler-grpc python3-grpcio python3-protobuf)"
    )
if _GENERATED not in sys.path:
    sys.path.insert(0, _GENERATED)

# Re-exported for the rest of the package and for callers who want the raw messages.
from google.rpc import error_details_pb2, status_pb2  # noqa: E402
from lash.v1 import (  # noqa: E402
    admin_service_pb2,
    admin_service_pb2_grpc,
    common_pb2,
    feed_pb2,
    queue_pb2,
    queue_service_pb2,
    queue_service_pb2_grpc,
    session_pb2,
    session_service_pb2,
    session_service_pb2_grpc,
    tool_pb2,
    turn_pb2,
    turn_service_pb2,
    turn_service_pb2_grpc,
)

__all__ = [
    "admin_service_pb2",
    "admin_service_pb2_grpc",
    "common_pb2",
    "error_details_pb2",
    "feed_pb2",
    "queue_pb2",
    "queue_service_pb2",
    "queue_service_pb2_grpc",
    "session_pb2",
    "session_service_pb2",
    "session_service_pb2_grpc",
    "status_pb2",
    "tool_pb2",
    "turn_pb2",
    "turn_service_pb2",
    "turn_service_pb2_grpc",
]
