#!/usr/bin/env python3
"""Client.export_state against a live server: a session larger than one 2 MiB piece is exported,
once while it changes after the first piece (the helper starts again), then deleted and
imported back from the text. Prints, as JSON, what the e2e test compares.

    LASH_ADDRESS=127.0.0.1:50051 /usr/bin/python3 clients/python/tests/export_check.py <session-id>
"""

import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from lash_client import Aborted, Client, pb  # noqa: E402


def big(message_id: str):
    text = pb.common_pb2.TextPart(text=f"{message_id} " + "é" * (400 * 1024))
    return pb.common_pb2.Message(id=message_id, role=pb.common_pb2.MESSAGE_ROLE_USER, parts=[pb.common_pb2.Part(text=text)])


def main() -> int:
    session_id = sys.argv[1]
    with Client(os.environ["LASH_ADDRESS"], token=os.environ.get("LASH_TOKEN")) as client:
        client.open_session(session_id)
        append = lambda m: client.admin.AppendMessages(pb.admin_service_pb2.AppendMessagesRequest(session_id=session_id, messages=[m]))  # noqa: E731
        for message_id in ("a", "b", "c"):
            append(big(message_id))
        # After the first piece another message lands: the next piece is STATE_CHANGED_DURING_EXPORT.
        chunk = client.sessions.ExportSessionStateChunk
        calls = []

        def changing(request, **kwargs):
            r = chunk(request, **kwargs)
            calls.append(request.page_token)
            if len(calls) == 1:
                append(big("d"))
            return r

        client.sessions.ExportSessionStateChunk = changing
        text = client.export_state(session_id)
        restarted_calls = len(calls)

        def always_changing(request, **kwargs):
            r = chunk(request, **kwargs)
            append(big(f"e{len(calls)}"))
            calls.append(request.page_token)
            return r

        client.sessions.ExportSessionStateChunk = always_changing
        try:
            client.export_state(session_id, attempts=1)
            refused = None
        except Aborted as err:
            refused = err.reason
        client.sessions.ExportSessionStateChunk = chunk

        # Gone, then back from the text (a document names its session: it imports under that id).
        client.sessions.DeleteSession(pb.session_service_pb2.DeleteSessionRequest(session_id=session_id))
        state = pb.session_pb2.SessionState(session_id=session_id, document_json=text)
        client.sessions.OpenSession(pb.session_service_pb2.OpenSessionRequest(
            session_id=session_id, open_mode=pb.session_pb2.OPEN_MODE_WITH_STATE, state=state))
        ids, page_token = [], ""
        while True:  # a read-view page ends at 2 MiB of messages
            view = client.sessions.GetReadView(pb.session_service_pb2.GetReadViewRequest(
                session_id=session_id, page_size=10, page_token=page_token))
            ids += [m.id for m in view.messages]
            page_token = view.next_page_token
            if not page_token:
                break
    doc = json.loads(text.decode("utf-8"))
    print(json.dumps({"bytes": len(text), "nodes": len(doc["nodes"]), "calls": restarted_calls, "refused": refused,
                      "copy_ids": ids}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
