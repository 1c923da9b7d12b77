"""lash_client.Client: the connection plus helpers for the common paths (open a session, run a
turn, enqueue and drain work, observe, export a session's state or read an attachment of any
size). Everything else is one call on `client.sessions`,
`client.turns`, `client.queue` or `client.admin` with the generated request messages.
"""

from __future__ import annotations

from typing import Any, Iterator, Sequence

from . import _stubs as pb
from .channel import Connection
from .errors import Aborted
from .observe import observe as _observe
from .turns import TurnStream, text_input


# Bytes per GetAttachment range: the most one answer holds.
ATTACHMENT_RANGE_BYTES = 3 * 1024 * 1024


class Client(Connection):
    def open_session(self, session_id: str, **fields: Any) -> Any:
        """OpenSession (creates or resumes); returns the lash.v1.Session. `fields` are request fields."""
        return self.sessions.OpenSession(pb.session_service_pb2.OpenSessionRequest(session_id=session_id, **fields)).session

    def turn(self, session_id: str, text: str, *, turn_id: str = "", continue_on_disconnect: bool = False,
             timeout: float | None = None) -> TurnStream:
        """RunTurn with a text input; iterate the result for deltas, then read `.result`.

        Pass a turn_id to make retries safe: the same id returns the committed result or attaches
        to the running turn. With continue_on_disconnect the turn goes on if this stream drops.
        """
        policy = pb.turn_pb2.ON_DISCONNECT_CONTINUE if continue_on_disconnect else pb.turn_pb2.ON_DISCONNECT_UNSPECIFIED
        request = pb.turn_service_pb2.RunTurnRequest(session_id=session_id, turn_id=turn_id, input=text_input(text),
                                                     on_disconnect=policy)
        return TurnStream(self.turns.RunTurn(request, timeout=timeout))

    def enqueue(self, session_id: str, text: str, *, id: str = "", **fields: Any) -> Any:  # noqa: A002 - the proto's name
        """EnqueueTurnInput with a text input; `id` deduplicates retries. Returns the response."""
        return self.queue.EnqueueTurnInput(pb.queue_service_pb2.EnqueueTurnInputRequest(
            session_id=session_id, input=text_input(text), id=id, **fields))

    def drain(self, session_id: str, *, drain_id: str = "", batch_ids: Sequence[str] = (),
              timeout: float | None = None) -> TurnStream:
        """RunQueuedTurn: claims ready work and runs it as one turn (`nothing_to_do` when none)."""
        request = pb.queue_service_pb2.RunQueuedTurnRequest(session_id=session_id, drain_id=drain_id, batch_ids=list(batch_ids))
        return TurnStream(self.queue.RunQueuedTurn(request, timeout=timeout))

    def observe(self, session_id: str, **kwargs: Any) -> Iterator[Any]:
        """The session feed, resuming across disconnects; see lash_client.observe.observe."""
        return _observe(self, session_id, **kwargs)

    def read_attachment(self, session_id: str, attachment_id: str, *, timeout: float | None = None) -> tuple[str, bytes]:
        """An attachment's (media type, bytes), whatever its size.

        One GetAttachment answer holds at most 3 MiB (under a default client's 4 MiB limit), so
        larger attachments are read in ranges; they are content-addressed and cannot change
        between the reads.
        """
        pieces: list[bytes] = []
        offset = 0
        while True:
            r = self.sessions.GetAttachment(pb.session_service_pb2.GetAttachmentRequest(
                session_id=session_id, attachment_id=attachment_id, offset=offset, length=ATTACHMENT_RANGE_BYTES), timeout=timeout)
            pieces.append(r.data)
            offset += len(r.data)
            if offset >= r.total_bytes or not r.data:
                return r.media_type, b"".join(pieces)

    def export_state(self, session_id: str, *, attempts: int = 3, timeout: float | None = None) -> bytes:
        """The session's state document as UTF-8 JSON text, whatever its size.

        Reads it piece by piece with ExportSessionStateChunk (each answer at most 2 MiB, under a
        default client's 4 MiB limit), so it works where ExportSessionState answers
        STATE_NEEDS_CHUNKS. A session that changes between pieces (Aborted,
        STATE_CHANGED_DURING_EXPORT) is read again from the start, up to `attempts` times. The
        text imports back through SessionState(document_json=...).
        """
        for attempt in range(1, attempts + 1):
            pieces: list[bytes] = []
            page_token = ""
            try:
                while True:
                    r = self.sessions.ExportSessionStateChunk(pb.session_service_pb2.ExportSessionStateChunkRequest(
                        session_id=session_id, page_token=page_token), timeout=timeout)
                    pieces.append(r.chunk)
                    page_token = r.next_page_token
                    if not page_token:
                        return b"".join(pieces)
            except Aborted as err:
                if err.reason != "STATE_CHANGED_DURING_EXPORT" or attempt >= attempts:
                    raise
        raise ValueError("attempts must be at least 1")
