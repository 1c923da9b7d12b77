#!/usr/bin/env python3
"""TLS and bearer token from the examples' environment (LASH_TLS_CA, LASH_TLS_CERT, LASH_TLS_KEY,
LASH_TOKEN): calls GetSession and prints the session id the server answered with. The e2e test's
stand-in server answers with the `authorization` metadata it received, so the output shows
that the token arrived over the (mutual) TLS connection.
"""

import os
import sys

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(here), "examples"))

from _common import connect  # noqa: E402

from lash_client import pb  # noqa: E402

with connect() as client:
    print(client.sessions.GetSession(pb.session_service_pb2.GetSessionRequest(session_id="who-am-i")).session.session_id)
