"""A FastMCP server (the Python MCP SDK's) with the tools the e2e tests and benchmarks call.

Usage: fastmcp_server.py PORT [streamable-http|sse]
Streamable HTTP serves /mcp; the older HTTP+SSE transport serves /sse (+ /messages/).
Prints "READY <port>" on stdout once it accepts connections.
"""

import asyncio
import base64
import sys

from mcp.server.fastmcp import Context, FastMCP, Image

# A 1x1 PNG.
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)

port = int(sys.argv[1])
transport = sys.argv[2] if len(sys.argv) > 2 else "streamable-http"
server = FastMCP("agenthost-e2e", host="127.0.0.1", port=port, log_level="WARNING")


@server.tool()
def add(a: int, b: int) -> int:
    """Adds two integers."""
    return a + b


@server.tool()
def fail(message: str) -> str:
    """Always fails, with the given message."""
    raise ValueError(message)


@server.tool()
async def slow(seconds: float) -> str:
    """Answers 'done' after the given number of seconds."""
    await asyncio.sleep(seconds)
    return "done"


@server.tool()
def image() -> Image:
    """A 1x1 PNG image."""
    return Image(data=PNG, format="png")


@server.tool()
def whoami(ctx: Context) -> str:
    """The x-api-key header this call carried, and whether it carried an Authorization header."""
    headers = ctx.request_context.request.headers
    auth = headers.get("authorization")
    return f"x-api-key={headers.get('x-api-key', 'none')} authorization={auth or 'none'}"


async def main() -> None:
    import uvicorn

    app = server.sse_app() if transport == "sse" else server.streamable_http_app()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
    web = uvicorn.Server(config)
    task = asyncio.create_task(web.serve())
    while not web.started:
        if task.done():
            task.result()
            return
        await asyncio.sleep(0.01)
    print(f"READY {port}", flush=True)
    await task


asyncio.run(main())
