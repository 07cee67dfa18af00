"""Run pyHanko's coroutines from synchronous code, whether or not an event loop is running.

pyHanko's sync wrappers call ``asyncio.run()``, which raises inside a running loop (FastAPI).
Here a caller on a loop thread gets a short-lived worker thread instead of a crash; a Celery
worker or a plain thread runs the coroutine directly.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")


def run_sync(make_coro: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run the coroutine built by ``make_coro`` to completion and return its result."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        on_loop = False
    else:
        on_loop = True
    if not on_loop:
        # Outside the except block, so errors logged inside carry no unrelated context.
        return asyncio.run(make_coro())
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="sohoa-signing") as pool:
        return pool.submit(lambda: asyncio.run(make_coro())).result()
