#!/usr/bin/env python3
"""A queue worker: drains a session's queued work, one RunQueuedTurn per claim, and prints each
drained turn as a JSON line. Runs until the queue is empty (--until-empty) or forever, polling.

    /usr/bin/python3 clients/python/examples/worker.py my-session --until-empty

Producers put work in with EnqueueTurnInput (client.enqueue); the server keeps it durably until a
worker's drain commits, so a worker that dies mid-drain loses nothing: the claim expires and the
next drain takes the batch again. The server can drain queues itself (LASH_QUEUE_WORKERS, on by
default); run workers like this one when that is off (LASH_QUEUE_WORKERS=0), e.g. to drain on
machines of your own choosing. Both kinds may run together: a batch is claimed by one drain only.
"""

import json
import sys
import time
import uuid

from _common import connect, say

from lash_client import result_text


def main() -> int:
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    session_id = args[0] if args else "queue"
    until_empty = "--until-empty" in sys.argv
    drained = 0
    with connect() as client:
        while True:
            # A fresh drain id per claim; retrying the same id would attach to the same drain.
            turn = client.drain(session_id, drain_id=f"worker-{uuid.uuid4()}")
            turn.wait()
            if turn.nothing_to_do:
                if until_empty:
                    say(json.dumps({"drained": drained, "empty": True}))
                    return 0
                time.sleep(1.0)
                continue
            drained += 1
            batches = [b for e in turn.events if e.WhichOneof("kind") == "queued_work_started" for b in e.queued_work_started.batch_ids]
            say(json.dumps({"turn_id": turn.result.turn_id, "batch_ids": batches, "text": result_text(turn.result)}))


if __name__ == "__main__":
    sys.exit(main())
