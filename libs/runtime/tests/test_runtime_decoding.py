"""A process never decodes more pixels at once than its budget, and every decode gets its turn."""

from __future__ import annotations

import asyncio
import threading
import time

from medialab_runtime.decoding import PixelBudget


async def test_decodes_wait_until_their_pixels_fit_the_budget() -> None:
    budget = PixelBudget(100)
    lock = threading.Lock()
    running = 0
    most_at_once = 0
    most_in_use = 0

    def decode(pixels: int) -> int:
        nonlocal running, most_at_once, most_in_use
        with lock:
            running += 1
            most_at_once = max(most_at_once, running)
            most_in_use = max(most_in_use, budget.in_use)
        time.sleep(0.02)
        with lock:
            running -= 1
        return pixels

    sizes = [60, 60, 40, 30, 30, 100, 250]  # 250: over the budget alone, waits for all of it
    assert await asyncio.gather(*(budget.run(size, decode, size) for size in sizes)) == sizes
    assert most_in_use <= 100 and budget.in_use == 0
    assert most_at_once > 1  # small ones do run side by side


async def test_a_failed_decode_gives_its_pixels_back() -> None:
    budget = PixelBudget(10)

    def fail() -> None:
        raise ValueError("corrupt")

    for _ in range(3):
        try:
            await budget.run(10, fail)
        except ValueError:
            pass
    assert budget.in_use == 0
    assert await budget.run(10, lambda: "ok") == "ok"
