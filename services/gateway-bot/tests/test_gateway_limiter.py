"""The outbound Telegram limiter: GCRA slots shared over KV, retry_after, order, the middleware."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import nats
import pytest
from aiogram import Bot
from aiogram.exceptions import TelegramBadRequest, TelegramRetryAfter
from aiogram.methods import AnswerCallbackQuery, EditMessageText, SendMessage
from gateway_bot.locks import KeyedLocks
from gateway_bot.telegram.limiter import Limits, Rate, Scope, TelegramLimiter, scopes_for
from gateway_bot.telegram.session import RateLimitMiddleware, chat_of
from medialab_contracts import subjects
from medialab_runtime.provisioning import ensure_layout
from nats.js.kv import KeyValue

LIMITS = Limits(global_=Rate(100, 100), chat=Rate(10, 2), group=Rate(5, 1))


@pytest.fixture
async def kv(nats_url: str) -> AsyncIterator[KeyValue]:
    nc = await nats.connect(nats_url)
    await ensure_layout(nc.jetstream())
    yield await nc.jetstream().key_value(subjects.TELEGRAM_LIMITS_BUCKET)
    await nc.close()


def test_scopes() -> None:
    assert scopes_for(None) == [(Scope.global_, None)]
    assert scopes_for(5) == [(Scope.chat, 5), (Scope.global_, None)]
    assert scopes_for(-100) == [(Scope.chat, -100), (Scope.group, -100), (Scope.global_, None)]


def frozen() -> float:
    """A clock that stands still: a wait is then the limiter's arithmetic alone, whatever the time a
    KV round trip takes on a busy machine."""
    return 1_000_000.0


async def test_chat_burst_then_rate_shared_by_two_replicas(kv: KeyValue) -> None:
    replicas = [TelegramLimiter(kv, 1, LIMITS, clock=frozen), TelegramLimiter(kv, 1, LIMITS, clock=frozen)]
    waits = [await replicas[i % 2].reserve(Scope.chat, 7) for i in range(6)]
    # burst 2 go at once, then one per 0.1 s whichever replica asks
    assert waits[:2] == [0.0, 0.0]
    for n, wait in enumerate(waits[2:], start=1):
        assert wait == pytest.approx(0.1 * n, abs=1e-6)
    assert await replicas[0].reserve(Scope.chat, 8) == 0.0  # another chat is not slowed


async def test_acquire_spaces_sends(kv: KeyValue) -> None:
    limiter = TelegramLimiter(kv, 1, LIMITS)
    started = time.monotonic()
    await asyncio.gather(*(limiter.acquire(9) for _ in range(5)))
    # Burst 2, then 0.1 s apart: the fifth goes 0.3 s after the first, never sooner (a busy machine
    # only makes it later).
    assert time.monotonic() - started >= 0.3 - 0.01


async def test_penalty_blocks_the_scope(kv: KeyValue) -> None:
    limiter = TelegramLimiter(kv, 1, LIMITS, clock=frozen)
    await limiter.penalize(Scope.chat, 11, retry_after=0.5)
    assert await limiter.reserve(Scope.chat, 11) == pytest.approx(0.5, abs=1e-6)
    assert await limiter.reserve(Scope.chat, 12) == 0.0


async def test_a_remembered_scope_never_hides_what_another_replica_wrote(kv: KeyValue) -> None:
    mine = TelegramLimiter(kv, 1, LIMITS, clock=frozen)
    other = TelegramLimiter(kv, 1, LIMITS, clock=frozen)
    assert await mine.reserve(Scope.chat, 13) == 0.0  # `mine` now remembers the chat's slot
    await other.penalize(Scope.chat, 13, retry_after=0.5)
    assert await mine.reserve(Scope.chat, 13) == pytest.approx(0.5, abs=1e-6)
    assert await mine.reserve(Scope.chat, 13) == pytest.approx(0.6, abs=1e-6)
    assert await other.reserve(Scope.chat, 13) == pytest.approx(0.7, abs=1e-6)


class FakeBot:
    id = 1


async def test_middleware_retries_after_429_and_ignores_not_modified(kv: KeyValue) -> None:
    limiter = TelegramLimiter(kv, 1, LIMITS)
    middleware = RateLimitMiddleware(limiter, max_retries=3)
    calls: list[float] = []
    send = SendMessage(chat_id=5, text="hi")

    async def flaky(bot: Bot, method: SendMessage) -> str:
        calls.append(time.monotonic())
        if len(calls) == 1:
            raise TelegramRetryAfter(method=method, message="Too Many Requests: retry after 1", retry_after=1)
        return "sent"

    assert await middleware(flaky, FakeBot(), send) == "sent"  # type: ignore[arg-type]
    assert calls[1] - calls[0] >= 0.95

    edit = EditMessageText(chat_id=5, message_id=1, text="same")

    async def not_modified(bot: Bot, method: EditMessageText) -> None:
        raise TelegramBadRequest(method=method, message="Bad Request: message is not modified: same")

    assert await middleware(not_modified, FakeBot(), edit) is True  # type: ignore[arg-type]

    async def bad(bot: Bot, method: SendMessage) -> None:
        raise TelegramBadRequest(method=method, message="Bad Request: chat not found")

    with pytest.raises(TelegramBadRequest):
        await middleware(bad, FakeBot(), send)  # type: ignore[arg-type]


def test_chat_of_methods() -> None:
    assert chat_of(SendMessage(chat_id=5, text="x")) == 5
    assert chat_of(EditMessageText(chat_id=-7, message_id=1, text="x")) == -7
    assert chat_of(AnswerCallbackQuery(callback_query_id="1")) is None


async def test_keyed_locks_serialise_per_key_in_order_and_forget_idle_keys() -> None:
    locks = KeyedLocks()
    order: list[str] = []

    async def work(key: str, name: str, pause: float) -> None:
        async with locks.hold(key):
            order.append(f"{name}+")
            await asyncio.sleep(pause)
            order.append(f"{name}-")

    await asyncio.gather(work("a", "a1", 0.05), work("a", "a2", 0), work("b", "b1", 0.01))
    assert order.index("a1-") < order.index("a2+")  # same key: one after the other, in call order
    assert order.index("b1+") < order.index("a1-")  # another key is not held up
    assert len(locks) == 0
