#!/usr/bin/env python3
"""The turn helper against a live server: runs one turn and prints, as JSON, every delta in the
order it arrived, the text of the result and the turn id, so the e2e test can compare them.

    LASH_ADDRESS=127.0.0.1:50051 /usr/bin/python3 clients/python/tests/turn_check.py <session-id> <text>
"""

import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from lash_client import Client, result_text  # noqa: E402


def run(client: Client, session_id: str, text: str):
    # `yield from` hands back the TurnStream's return value: the committed result.
    result = yield from client.turn(session_id, text, turn_id=f"{session_id}-py-turn")
    return result


def main() -> int:
    session_id, text = sys.argv[1], sys.argv[2]
    with Client(os.environ["LASH_ADDRESS"], token=os.environ.get("LASH_TOKEN")) as client:
        client.open_session(session_id)
        deltas = []
        gen = run(client, session_id, text)
        try:
            while True:
                deltas.append(next(gen))
        except StopIteration as done:
            result = done.value
        # Retrying the same turn id returns the stored result without running the model again.
        again = client.turn(session_id, text, turn_id=f"{session_id}-py-turn").wait()
    print(json.dumps({"deltas": deltas, "text": result_text(result), "turn_id": result.turn_id,
                      "retry_turn_id": again.turn_id, "retry_text": result_text(again)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
