"""A remote tool host over TurnService.ServeTools, with a decorator API.

    host = ToolHost(client, session_id="s1")          # or tenant_wide=True

    @host.tool(description="Looks a word up", schema={"type": "object", "properties": {"q": {"type": "string"}}})
    def lookup(q: str) -> dict:
        return {"found": q}

    host.serve()          # blocks; host.start() serves on a background thread

A handler gets the call's arguments as keyword arguments and returns any JSON value. Raising
ToolFailure (or any exception) answers the call as failed with the exception's message; returning
Pending(key) answers it as pending, to be resolved later with TurnService.ResolveCompletion.
Handlers run on a thread pool, so slow tools do not hold up other calls.
"""

from __future__ import annotations

import queue
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

from google.protobuf import json_format, struct_pb2

from . import _stubs as pb
from .errors import LashError, is_transient

_CLOSE = object()


class ToolFailure(Exception):
    """Raise from a handler to answer the call as failed; the message is what the model sees."""


@dataclass
class Pending:
    """Return from a handler to answer later: the turn waits for ResolveCompletion(completion_key)."""

    completion_key: str


@dataclass
class _Tool:
    name: str
    description: str
    schema: dict[str, Any]
    serial: bool
    handler: Callable[..., Any]


@dataclass
class ToolHost:
    """Serves tools to one session (`session_id`) or to every session of the tenant (`tenant_wide`)."""

    client: Any
    session_id: str | None = None
    tenant_wide: bool = False
    workers: int = 8
    #: Called with the host id each time the server registers the tools (again after a reconnect).
    on_ready: Callable[[str], None] | None = None
    #: Set once the server acknowledged the hello; `host_id` is then known.
    ready: threading.Event = field(default_factory=threading.Event)
    host_id: str | None = None
    #: Ids of calls the server cancelled (the turn was cancelled or ended).
    cancelled: list[str] = field(default_factory=list)
    _tools: dict[str, _Tool] = field(default_factory=dict)
    _outbox: "queue.Queue[Any]" = field(default_factory=queue.Queue)
    _call: Any = None
    _closed: bool = False
    _thread: threading.Thread | None = None

    def tool(self, name: str | None = None, *, description: str | None = None,
             schema: dict[str, Any] | None = None, serial: bool = False) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Registers the decorated function as a tool (named after the function unless `name`)."""

        def register(fn: Callable[..., Any]) -> Callable[..., Any]:
            tool_name = name or fn.__name__
            self._tools[tool_name] = _Tool(tool_name, description or (fn.__doc__ or tool_name).strip(),
                                           schema or {"type": "object"}, serial, fn)
            return fn

        return register

    def _hello(self) -> Any:
        scheduling = pb.tool_pb2.ToolScheduling
        tools = []
        for t in self._tools.values():
            schema = struct_pb2.Struct()
            schema.update(t.schema)
            tools.append(pb.turn_service_pb2.RemoteToolDefinition(
                name=t.name, description=t.description, input_schema=schema,
                scheduling=scheduling.TOOL_SCHEDULING_SERIAL if t.serial else scheduling.TOOL_SCHEDULING_PARALLEL))
        scope = (pb.turn_service_pb2.ToolHostScope(tenant_wide=True) if self.tenant_wide
                 else pb.turn_service_pb2.ToolHostScope(session_id=self.session_id or ""))
        return pb.turn_service_pb2.ServeToolsRequest(hello=pb.turn_service_pb2.ToolHostHello(tools=tools, scope=scope))

    def _requests(self) -> Iterator[Any]:
        yield self._hello()
        while True:
            item = self._outbox.get()
            if item is _CLOSE:
                return
            yield item

    def _answer(self, call: Any) -> Any:
        result = pb.turn_service_pb2.ToolCallResult(call_id=call.call_id)
        tool = self._tools.get(call.tool_name)
        try:
            if tool is None:
                raise ToolFailure(f"this host does not serve {call.tool_name!r}")
            args = json_format.MessageToDict(call.args) if call.HasField("args") else {}
            value = tool.handler(**args)
            if isinstance(value, Pending):
                result.pending.completion_key = value.completion_key
            else:
                json_format.ParseDict(value, result.success)
        except Exception as err:  # noqa: BLE001 - every handler failure is the model's to see
            result.failure.message = str(err) or type(err).__name__
        return pb.turn_service_pb2.ServeToolsRequest(tool_result=result)

    def serve(self, *, reconnect: bool = True) -> None:
        """Connects and answers calls until close(); reconnects after a dropped stream if `reconnect`."""
        if self.session_id is None and not self.tenant_wide:
            raise ValueError("give a session_id or tenant_wide=True")
        backoff = 0.1
        with ThreadPoolExecutor(max_workers=self.workers) as pool:
            while not self._closed:
                self._outbox = queue.Queue()
                self._call = self.client.turns.ServeTools(self._requests())
                try:
                    for message in self._call:
                        which = message.WhichOneof("message")
                        if which == "ready":
                            self.host_id = message.ready.host_id
                            self.ready.set()
                            backoff = 0.1
                            if self.on_ready:
                                self.on_ready(self.host_id)
                        elif which == "tool_call":
                            outbox = self._outbox
                            pool.submit(lambda c=message.tool_call, o=outbox: o.put(self._answer(c)))
                        elif which == "cancel":
                            self.cancelled.append(message.cancel.call_id)
                except LashError as err:
                    if self._closed:
                        return
                    # Only a lost connection is worth a reconnect; a refused hello is not.
                    if not reconnect or not is_transient(err):
                        raise
                self.ready.clear()
                if self._closed or not reconnect:
                    return
                self.client.pause_before_retry(backoff)
                backoff = min(backoff * 2, 2.0)

    def start(self, *, timeout: float = 30.0) -> "ToolHost":
        """Serves on a daemon thread and waits until the server has registered the tools."""
        errors: list[BaseException] = []

        def run() -> None:
            try:
                self.serve()
            except BaseException as err:  # noqa: BLE001 - reported to the starting thread
                errors.append(err)
                self.ready.set()

        self._thread = threading.Thread(target=run, name="lash-tool-host", daemon=True)
        self._thread.start()
        if not self.ready.wait(timeout):
            raise TimeoutError("the tool host was not registered in time")
        if errors:
            raise errors[0]
        return self

    def close(self) -> None:
        """Disconnects; calls still in flight fail on the server as a disconnected host."""
        self._closed = True
        self._outbox.put(_CLOSE)
        if self._call is not None:
            self._call.cancel()
        if self._thread is not None:
            self._thread.join(timeout=10)
