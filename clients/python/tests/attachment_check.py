#!/usr/bin/env python3
"""Client.read_attachment against a live server: a turn hands in an image larger than one 3 MiB
answer; asked for whole it is refused (FailedPrecondition, ATTACHMENT_NEEDS_RANGES), and the
helper reads it back in ranges. Prints, as JSON, what the e2e test compares.

    LASH_ADDRESS=127.0.0.1:50051 /usr/bin/python3 clients/python/tests/attachment_check.py <session-id>
"""

import hashlib
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from lash_client import Client, LashError, pb  # noqa: E402


def main() -> int:
    session_id = sys.argv[1]
    # Every byte value, 7 MiB and a bit: three ranges.
    image = bytes(range(256)) * (7 * 4096) + b"tail"
    with Client(os.environ["LASH_ADDRESS"], token=os.environ.get("LASH_TOKEN")) as client:
        client.open_session(session_id)
        turn_input = pb.turn_pb2.TurnInput(
            items=[pb.turn_pb2.InputItem(text=pb.turn_pb2.TextInput(text="look")),
                   pb.turn_pb2.InputItem(image_ref=pb.turn_pb2.ImageRef(id="big"))],
            image_blobs={"big": pb.turn_pb2.ImageBlob(data=image, mime_type="image/png")})
        for _ in client.turns.RunTurn(pb.turn_service_pb2.RunTurnRequest(session_id=session_id, input=turn_input)):
            pass
        attachment_id = hashlib.sha256(image).hexdigest()
        try:
            client.sessions.GetAttachment(pb.session_service_pb2.GetAttachmentRequest(session_id=session_id, attachment_id=attachment_id))
            whole = None
        except LashError as err:
            whole = err.reason
        media_type, data = client.read_attachment(session_id, attachment_id)
    print(json.dumps({"whole": whole, "media_type": media_type, "bytes": len(data), "same": data == image}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
