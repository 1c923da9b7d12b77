#!/usr/bin/env python3
"""A remote tool host: serves two tools to a session's turns until interrupted.

    /usr/bin/python3 clients/python/examples/tool_host.py my-session

The session must bind the tools first (its spec's remote_tools lists `lookup` and `divide`,
set by OpenSession or UpdateSessionConfig): a host serves only what a session binds. The server
then offers the tools to the model for every turn of the session while this process is
connected; each call arrives here, runs, and its return value becomes the tool's output.
"""

import signal
import sys

from _common import connect, say

from lash_client import ToolFailure, ToolHost


def main() -> int:
    session_id = sys.argv[1] if len(sys.argv) > 1 else "tools"
    with connect() as client:
        # Registered again by itself after a lost connection (a server restart, a redeploy).
        host = ToolHost(client, session_id=session_id,
                        on_ready=lambda host_id: say(f"ready host_id={host_id} tools=divide,lookup"))

        @host.tool(description="Looks a word up in the glossary.",
                   schema={"type": "object", "properties": {"word": {"type": "string"}}, "required": ["word"]})
        def lookup(word: str) -> dict:
            say(f"call lookup word={word}")
            return {"word": word, "definition": f"{word} (n.): a thing defined by the Python tool host", "letters": len(word)}

        @host.tool(description="Divides a by b.",
                   schema={"type": "object", "properties": {"a": {"type": "number"}, "b": {"type": "number"}}, "required": ["a", "b"]})
        def divide(a: float, b: float) -> float:
            say(f"call divide a={a} b={b}")
            if b == 0:
                raise ToolFailure("cannot divide by zero; pass a non-zero b")
            return a / b

        signal.signal(signal.SIGTERM, lambda *_: host.close())
        host.start()
        try:
            while host._thread is not None and host._thread.is_alive():
                host._thread.join(timeout=0.5)
        except KeyboardInterrupt:
            host.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
