#!/usr/bin/env python3
"""An observer that survives restarts: prints every feed message of a session as a JSON line, and
keeps going across disconnects and server restarts by resuming from its last cursor.

    /usr/bin/python3 clients/python/examples/observer.py my-session [cursor]

Store the last cursor you processed and pass it on the next start to continue exactly there.
"""

import json
import sys

from _common import connect, say


def describe(message) -> dict:
    kind = message.WhichOneof("kind")
    out = {"cursor": message.cursor, "sequence": message.sequence, "kind": kind}
    if kind == "event":
        payload = message.event.WhichOneof("payload")
        out["payload"] = payload
        if payload == "turn_activity":
            out["turn_id"] = message.event.turn_activity.turn_id
            if message.event.turn_activity.event.WhichOneof("kind") == "assistant_prose_delta":
                out["delta"] = message.event.turn_activity.event.assistant_prose_delta.text
        elif payload == "committed":
            out["turn_id"] = message.event.committed.turn_id
    return out


def main() -> int:
    session_id = sys.argv[1] if len(sys.argv) > 1 else "observed"
    cursor = sys.argv[2] if len(sys.argv) > 2 else None

    def reconnecting(at, error):
        print(json.dumps({"reconnecting_after": at, "error": str(error) if error else None}), file=sys.stderr, flush=True)

    with connect() as client:
        try:
            for message in client.observe(session_id, cursor=cursor, on_reconnect=reconnecting):
                say(json.dumps(describe(message)))
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
