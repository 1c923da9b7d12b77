"""Turns as Python iterables: iterate a TurnStream for the assistant's text deltas as they stream,
then read `.result` (the committed lash.v1.TurnResult). Used for RunTurn and RunQueuedTurn alike,
whose responses both carry batches of TurnActivity.
"""

from __future__ import annotations

from typing import Any, Generator

import grpc

from . import _stubs as pb
from .channel import StreamCall
from .errors import LashError


def text_input(text: str) -> Any:
    """A TurnInput holding one text item."""
    return pb.turn_pb2.TurnInput(items=[pb.turn_pb2.InputItem(text=pb.turn_pb2.TextInput(text=text))])


class IncompleteTurn(LashError):
    """The stream ended without a result (the server went away mid-turn).

    Run the turn again with the same turn id: a committed turn returns its stored result, a running
    one is attached to, and an interrupted one runs again.
    """


class TurnStream:
    """The activity of one turn.

    `for delta in stream` yields the assistant's prose deltas (str) as they arrive; `events` holds
    every TurnEvent seen; after the loop `result` is the TurnResult (None when a drain found
    nothing to do, see `nothing_to_do`). `yield from stream` inside a generator returns the result.
    """

    def __init__(self, call: StreamCall):
        self._call = call
        self.events: list[Any] = []
        self.result: Any = None
        self.nothing_to_do = False
        self._consumed = False

    def __iter__(self) -> Generator[str, None, Any]:
        if self._consumed:
            raise RuntimeError("a TurnStream can be iterated once")
        self._consumed = True
        for response in self._call:
            for activity in response.activities:
                which = activity.WhichOneof("item")
                if which == "event":
                    self.events.append(activity.event)
                    if activity.event.WhichOneof("kind") == "assistant_prose_delta":
                        yield activity.event.assistant_prose_delta.text
                elif which == "result":
                    self.result = activity.result
                elif which == "nothing_to_do":
                    self.nothing_to_do = True
        if self.result is None and not self.nothing_to_do:
            raise IncompleteTurn(grpc.StatusCode.UNAVAILABLE, "the turn stream ended before the turn's result")
        return self.result

    def wait(self) -> Any:
        """Consumes the stream without looking at the deltas and returns the result."""
        for _ in self:
            pass
        return self.result

    def cancel(self) -> None:
        """Ends the stream; with the default on_disconnect the server cancels the turn."""
        self._call.cancel()


def result_text(result: Any) -> str:
    """The assistant's final text of a TurnResult ('' when the turn did not finish with prose)."""
    if result is None or result.WhichOneof("outcome") != "finished":
        return ""
    finished = result.finished
    return finished.assistant_message.text if finished.WhichOneof("answer") == "assistant_message" else ""
