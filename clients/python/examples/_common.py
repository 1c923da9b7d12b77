"""Shared set-up of the examples: where the server is and how to authenticate.

LASH_ADDRESS (default 127.0.0.1:50051), LASH_TOKEN (bearer token, optional), LASH_TLS_CA (PEM file
of the CA that signed the server's certificate; set it to use TLS), LASH_TLS_CERT/LASH_TLS_KEY
(client certificate for mutual TLS, optional).
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import grpc  # noqa: E402

from lash_client import Client  # noqa: E402


def _read(name: str) -> bytes | None:
    path = os.environ.get(name)
    if not path:
        return None
    with open(path, "rb") as f:
        return f.read()


def connect() -> Client:
    ca = _read("LASH_TLS_CA")
    tls = grpc.ssl_channel_credentials(root_certificates=ca, private_key=_read("LASH_TLS_KEY"),
                                       certificate_chain=_read("LASH_TLS_CERT")) if ca else False
    return Client(os.environ.get("LASH_ADDRESS", "127.0.0.1:50051"), token=os.environ.get("LASH_TOKEN"), tls=tls)


def say(*parts: object) -> None:
    print(*parts, flush=True)
