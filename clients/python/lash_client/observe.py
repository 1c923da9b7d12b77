"""observe(): the session feed as one endless Python generator that survives disconnects.

The server gives every feed message a cursor; resuming ObserveSession from the last cursor seen
returns exactly the messages after it. So on a dropped stream (network, server restart, redeploy)
the generator reconnects with backoff from its last cursor and the caller sees neither a gap nor a
duplicate. Errors that a reconnect cannot fix (unknown session, bad cursor, auth) are raised.
"""

from __future__ import annotations

import time
from typing import Any, Callable, Iterator

import grpc

from . import _stubs as pb
from .errors import LashError, Unavailable, is_transient


def observe(client: Any, session_id: str, *, cursor: str | None = None, heartbeats: bool = False,
            give_up_after: float = 120.0, on_reconnect: Callable[[str | None, LashError | None], None] | None = None,
            ) -> Iterator[Any]:
    """Yields lash.v1.FeedMessage values of a session, resuming after `cursor` (or from a snapshot).

    Reconnects from the last cursor after a transient failure or a stream the server ended, with
    exponential backoff (0.1 s doubling to 2 s; sooner once the channel has reconnected), until `give_up_after` seconds pass without a
    working stream; then the last error is raised. Heartbeats are skipped unless `heartbeats`.
    `on_reconnect(cursor, error)` is called before each reconnect attempt. Close the generator
    (or break out of the loop) to stop observing.
    """
    last_cursor = cursor
    last_sequence: int | None = None
    backoff = 0.1
    failing_since: float | None = None
    while True:
        request = pb.session_service_pb2.ObserveSessionRequest(session_id=session_id)
        if last_cursor is not None:
            request.cursor = last_cursor
        call = client.sessions.ObserveSession(request)
        error: LashError | None = None
        try:
            for response in call:
                failing_since = None
                backoff = 0.1
                for message in response.messages:
                    kind = message.WhichOneof("kind")
                    if kind == "event":
                        # A replayed event (at most the one the cursor names) is never shown twice.
                        if last_sequence is not None and message.sequence <= last_sequence:
                            continue
                        last_sequence = message.sequence
                    if message.cursor:
                        last_cursor = message.cursor
                    if kind == "heartbeat" and not heartbeats:
                        continue
                    yield message
        except LashError as err:
            if not is_transient(err):
                raise
            error = err
        finally:
            call.cancel()
        now = time.monotonic()
        failing_since = failing_since if failing_since is not None else now
        if now - failing_since > give_up_after:
            raise error or Unavailable(grpc.StatusCode.UNAVAILABLE, f"observing {session_id!r} kept failing for {give_up_after}s")
        if on_reconnect:
            on_reconnect(last_cursor, error)
        client.pause_before_retry(backoff)
        backoff = min(backoff * 2, 2.0)
