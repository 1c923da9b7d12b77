#!/usr/bin/env python3
"""Typed errors against a live server: provokes failures of several kinds and prints, as one JSON
document, the class, gRPC code, ErrorInfo reason and metadata each raised. The e2e test
(test/e2e/python-client.test.ts) runs it and checks the answers.

    LASH_ADDRESS=127.0.0.1:50051 /usr/bin/python3 clients/python/tests/errors_check.py <session-id>
"""

import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from lash_client import AlreadyExists, Client, InvalidArgument, LashError, NotFound, pb  # noqa: E402


def caught(fn) -> dict:
    try:
        fn()
    except LashError as err:
        return {"class": type(err).__name__, "code": err.code.name, "reason": err.reason, "domain": err.domain,
                "metadata": err.metadata, "message": err.message, "retryable": err.retryable,
                "is_not_found": isinstance(err, NotFound), "is_invalid": isinstance(err, InvalidArgument),
                "is_already_exists": isinstance(err, AlreadyExists)}
    return {"class": None}


def main() -> int:
    session_id = sys.argv[1]
    out = {}
    with Client(os.environ["LASH_ADDRESS"], token=os.environ.get("LASH_TOKEN")) as client:
        out["unknown_session"] = caught(lambda: client.sessions.GetSession(
            pb.session_service_pb2.GetSessionRequest(session_id=f"{session_id}-never-opened")))
        out["missing_id"] = caught(lambda: client.open_session(""))
        client.open_session(session_id)
        client.turn(session_id, "first input", turn_id=f"{session_id}-t1").wait()
        out["turn_id_reused"] = caught(lambda: client.turn(session_id, "different input", turn_id=f"{session_id}-t1").wait())
        # observe() reconnects only on transport failures; a bad cursor is the caller's to fix.
        out["bad_cursor"] = caught(lambda: next(client.observe(session_id, cursor="not-a-cursor")))
    print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
