"""A second process calling a queue tool: N concurrent calls, each must get its own value (prints ``ok N``)."""

from __future__ import annotations

import asyncio
import json
import os
import sys

from agentdown.runtime.queue_tools import QueueTool, aclose_shared

SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}


async def main(inq: str, outq: str, prefix: str, count: int) -> None:
    tool = QueueTool("GetWeather", "Weather.", SCHEMA, input_queue=inq, output_queue=outq, timeout=60)
    try:
        cities = [f"{prefix}{i}" for i in range(count)]
        values = await asyncio.gather(*(tool.invoke({"city": c}) for c in cities))
        wrong = [(c, v) for c, v in zip(cities, values, strict=True) if v.get("city") != c]
        print(
            json.dumps({"ok": len(cities) - len(wrong), "wrong": wrong[:5], "pid": os.getpid()}), flush=True
        )
    finally:
        await aclose_shared()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])))
