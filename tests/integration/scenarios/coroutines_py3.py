# -*- coding: utf-8 -*-
# ruff: noqa: UP009
"""Python 3 half of scenario 5: a coroutine chain, an async generator and ``yield from``."""

import asyncio


def relay(make_gen):
    yield from make_gen()


async def agen(make_gen):
    await asyncio.sleep(0)
    yield list(relay(make_gen))


async def middle(make_gen):
    async for values in agen(make_gen):
        return values


async def outer(make_gen):
    return await middle(make_gen)


def run(make_gen):
    if hasattr(asyncio, "run"):
        return asyncio.run(outer(make_gen))
    loop = asyncio.new_event_loop()
    return loop.run_until_complete(outer(make_gen))
