#!/usr/bin/env python3
"""Chat in a terminal: each line you type is one turn; the answer streams as it is written.

    /usr/bin/python3 clients/python/examples/chat.py my-session
"""

import sys

from _common import connect, say

from lash_client import LashError


def main() -> int:
    session_id = sys.argv[1] if len(sys.argv) > 1 else "chat"
    with connect() as client:
        client.open_session(session_id)
        interactive = sys.stdin.isatty()
        while True:
            if interactive:
                print("you> ", end="", flush=True)
            line = sys.stdin.readline()
            if not line:
                return 0
            if not line.strip():
                continue
            try:
                turn = client.turn(session_id, line.strip())
                print("lash> ", end="", flush=True)
                deltas = 0
                for delta in turn:
                    deltas += 1
                    print(delta, end="", flush=True)
                say()
                say(f"[turn {turn.result.turn_id}: {deltas} deltas, {turn.result.usage.total.output_tokens} output tokens]")
            except LashError as err:
                say(f"\n[error {err.code.name} {err.reason}: {err.message}]")


if __name__ == "__main__":
    sys.exit(main())
