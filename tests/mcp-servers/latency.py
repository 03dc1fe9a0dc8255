"""Latency of one `add` call to a FastMCP server: directly with the Python MCP SDK's client, and
through agenthost (a POST /responses whose scripted model calls the server's `add` as an `mcp`
tool). Prints one line per path: mean and p50/p99 over N sequential calls after a warm-up.

Usage: latency.py MCP_URL AGENTHOST_URL [N]
"""

import asyncio
import statistics
import sys
import time

import httpx
from mcp import ClientSession
from mcp.client.streamable_http import streamablehttp_client


def summary(label: str, samples: list[float]) -> str:
    samples = sorted(samples)
    p = lambda q: samples[min(len(samples) - 1, int(q * len(samples)))]  # noqa: E731
    return f"{label:<44} mean {statistics.mean(samples) * 1000:7.2f} ms  p50 {p(0.5) * 1000:7.2f} ms  p99 {p(0.99) * 1000:7.2f} ms"


async def direct(url: str, n: int) -> list[float]:
    async with streamablehttp_client(url) as (read, write, _):
        async with ClientSession(read, write) as session:
            await session.initialize()
            for _ in range(20):
                await session.call_tool("add", {"a": 1, "b": 2})
            out = []
            for i in range(n):
                t = time.perf_counter()
                result = await session.call_tool("add", {"a": i, "b": 1})
                out.append(time.perf_counter() - t)
                assert result.content[0].text == str(i + 1), result
            return out


async def through(base: str, url: str, n: int, chain: bool) -> list[float]:
    tool = {"type": "mcp", "server_label": "py", "server_url": url, "require_approval": "never"}
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        previous = None
        out = []
        for i in range(n + 20):
            body = {"input": f'call:add {{"a":{i},"b":1}}', "tools": [tool], "store": chain}
            if chain and previous:
                body["previous_response_id"] = previous
            t = time.perf_counter()
            r = (await client.post("/responses", json=body)).json()
            elapsed = time.perf_counter() - t
            calls = [o for o in r["output"] if o["type"] == "mcp_call"]
            assert calls and calls[0]["output"] == str(i + 1), r
            previous = r["id"]
            if i >= 20:
                out.append(elapsed)
        return out


async def main() -> None:
    url, base = sys.argv[1], sys.argv[2]
    n = int(sys.argv[3]) if len(sys.argv) > 3 else 200
    d = await direct(url, n)
    print(summary("direct MCP client call (python mcp SDK)", d))
    fresh = await through(base, url, n, chain=False)
    print(summary("agenthost response, lists + calls", fresh))
    chained = await through(base, url, n, chain=True)
    print(summary("agenthost response, list reused, calls", chained))
    print(
        f"overhead per call (mean, list reused): {(statistics.mean(chained) - statistics.mean(d)) * 1000:.2f} ms;"
        f" with a fresh list: {(statistics.mean(fresh) - statistics.mean(d)) * 1000:.2f} ms"
    )


asyncio.run(main())
