"""The connection to a lash-grpc server: channel, credentials and the four service stubs.

Every call made through `Client.sessions/turns/queue/admin` carries the bearer token (when one is
given) in the `authorization` metadata and raises typed errors (lash_client.errors) instead of bare
grpc.RpcError. The raw generated stubs stay reachable as `.stub` for anything not wrapped.
"""

from __future__ import annotations

import queue
import time
from typing import Any, Iterator, Sequence

import grpc

from . import _stubs as pb
from .errors import from_rpc_error

Metadata = Sequence[tuple[str, str]]

# gRPC's default reconnect backoff grows to two minutes; a session runtime restarts in seconds, so
# observers and tool hosts should find it again quickly: retries start after 0.2 s and are at most
# 5 s apart. "min_reconnect_backoff" is, despite its name, gRPC core's minimum *connect timeout*
# (how long one attempt may take): at 200 ms it abandoned attempts whose SYN needed the kernel's
# 1 s retransmit, or that a loaded server answered late, so it stays at 2 s.
_CHANNEL_DEFAULTS = {"grpc.initial_reconnect_backoff_ms": 200, "grpc.min_reconnect_backoff_ms": 2000,
                     "grpc.max_reconnect_backoff_ms": 5000}


class StreamCall:
    """A server-streaming call: iterate it for the responses; `cancel()` ends it early."""

    def __init__(self, call: Any):
        self._call = call

    def __iter__(self) -> Iterator[Any]:
        try:
            yield from self._call
        except grpc.RpcError as err:
            raise from_rpc_error(err) from err

    def cancel(self) -> None:
        self._call.cancel()


class Service:
    """One lash.v1 service: each generated method, with auth metadata and typed errors."""

    def __init__(self, stub: Any, client: "Connection"):
        self.stub = stub
        self._client = client

    def __getattr__(self, name: str) -> Any:
        method = getattr(self.stub, name)
        client = self._client
        streaming = isinstance(method, (grpc.UnaryStreamMultiCallable, grpc.StreamStreamMultiCallable))

        def invoke(request: Any, timeout: float | None = None, metadata: Metadata = ()) -> Any:
            md = client.metadata(metadata)
            t = timeout if timeout is not None else (None if streaming else client.timeout)
            if streaming:
                return StreamCall(method(request, timeout=t, metadata=md))
            try:
                return method(request, timeout=t, metadata=md)
            except grpc.RpcError as err:
                raise from_rpc_error(err) from err

        invoke.__name__ = name
        return invoke


class Connection:
    """A connection to lash-grpc (the plumbing under lash_client.Client).

    address: "host:port". token: sent as "authorization: Bearer <token>" on every call.
    tls: False for plaintext; True for TLS with the system roots; or grpc.ChannelCredentials
    (e.g. grpc.ssl_channel_credentials(root_certificates=..., private_key=..., certificate_chain=...)
    for a private CA or mutual TLS). timeout: default deadline of unary calls, in seconds.
    """

    def __init__(self, address: str, *, token: str | None = None, tls: bool | grpc.ChannelCredentials = False,
                 timeout: float | None = 30.0, options: Sequence[tuple[str, Any]] = ()):
        self.address = address
        self.token = token
        self.timeout = timeout
        opts = dict(_CHANNEL_DEFAULTS)
        opts.update(dict(options))
        options = list(opts.items())
        if tls is False:
            self.channel = grpc.insecure_channel(address, options=list(options))
        else:
            creds = grpc.ssl_channel_credentials() if tls is True else tls
            self.channel = grpc.secure_channel(address, creds, options=list(options))
        self.sessions = Service(pb.session_service_pb2_grpc.SessionServiceStub(self.channel), self)
        self.turns = Service(pb.turn_service_pb2_grpc.TurnServiceStub(self.channel), self)
        self.queue = Service(pb.queue_service_pb2_grpc.QueueServiceStub(self.channel), self)
        self.admin = Service(pb.admin_service_pb2_grpc.AdminServiceStub(self.channel), self)

    def metadata(self, extra: Metadata = ()) -> list[tuple[str, str]]:
        """Call metadata: the bearer token (if any) plus `extra`."""
        md = [("authorization", f"Bearer {self.token}")] if self.token else []
        return md + list(extra)

    def pause_before_retry(self, seconds: float) -> None:
        """Waits before a reconnect: at most `seconds`, and no longer than the channel takes to connect.

        A plain sleep is not enough: gRPC Python only drives a connection attempt while some call
        or connectivity watch polls the channel, so between the fast-failing calls of a sleeping
        retry loop a server that is back up went unnoticed for seconds (longer under load). A
        connectivity subscription polls while we wait and returns as soon as the channel is READY.
        A channel that is READY from the start (the server is up but ended or refused the stream)
        waits the whole `seconds`, so such a server is not hammered.
        """
        end = time.monotonic() + seconds
        states: "queue.Queue[grpc.ChannelConnectivity]" = queue.Queue()
        watch = states.put
        self.channel.subscribe(watch, try_to_connect=True)
        try:
            first = True
            while (left := end - time.monotonic()) > 0:
                try:
                    state = states.get(timeout=left)
                except queue.Empty:
                    return
                if state is grpc.ChannelConnectivity.READY and not first:
                    return
                first = False
        finally:
            self.channel.unsubscribe(watch)

    def close(self) -> None:
        self.channel.close()

    def __enter__(self) -> "Connection":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
