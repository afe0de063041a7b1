"""Scenarios driven as users through the Telegram emulator: the gateway killed, PostgreSQL stopped.

Each user orders one tiny picture with the extended form (``Изображение … | model=flux``) and must
end up with exactly one job that ended once, was paid once (or released), and one final message.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime

import pytest
from medialab_sandbox.telegram import TelegramUserClient, TranscriptMessage
from medialab_testkit.chaos import (
    EXTENDED_FLUX,
    Bus,
    ChaosStack,
    Oracle,
    accepted_job_id,
    eventually,
    launch,
    order_via_bot,
    price_shown,
    text_of,
)

pytestmark = pytest.mark.chaos


async def test_gateway_killed_mid_jobs_and_mid_delivery_every_user_told(
    stack: ChaosStack, client: Bus, oracle: Oracle
) -> None:
    async with stack.fal() as fal:
        await fal.set_latency(run_seconds=2.0)
    first = [await oracle.new_user() for _ in range(6)]
    second = [await oracle.new_user() for _ in range(3)]
    jobs = list(await asyncio.gather(*(order_via_bot(user, f"gw-{n}") for n, user in enumerate(first))))

    async def first_result_out() -> bool:
        finals = await client.final_counts()
        return any(job in finals for job in jobs)

    # Kill the moment results start coming in: some are being sent, the rest wait on the stream.
    await eventually(first_result_out, 20, "first results", interval=0.05)
    stack.kill("gateway-bot")
    # Orders sent while the bot is down wait at Telegram for the next getUpdates.
    for n, user in enumerate(second):
        await user.send_text(EXTENDED_FLUX.format(f"chaos gw-late-{n}"))
    await asyncio.sleep(1.0)
    await stack.start_service("gateway-bot")

    for user in second:
        jobs.append(await accepted_job_id(user, timeout=30))
    await oracle.verify(jobs, timeout=60, told_at_most=2, jobs_per_user=1)


OUTAGE_S = 10.0


async def test_postgres_down_for_ten_seconds_refuses_clearly_then_everything_works(
    stack: ChaosStack, client: Bus, oracle: Oracle
) -> None:
    async with stack.fal() as fal:
        await fal.set_latency(run_seconds=3.0)
    early = [await oracle.new_user() for _ in range(3)]
    typing = [await oracle.new_user() for _ in range(2)]  # order during the outage
    pressing = [await oracle.new_user() for _ in range(2)]  # saw the price before, press during it
    offers = [await offer_price(user, f"pg-offer-{n}") for n, user in enumerate(pressing)]
    # Jobs accepted before the outage finish during it: billing must settle them afterwards.
    jobs = list(await asyncio.gather(*(order_via_bot(user, f"pg-early-{n}") for n, user in enumerate(early))))

    went_down = time.monotonic()
    await stack.stop_postgres()
    refusals = await asyncio.gather(
        *(refused_order(user, n) for n, user in enumerate(typing)),
        *(refused_launch(user, offer) for user, offer in zip(pressing, offers, strict=True)),
    )
    assert all("временно недоступ" in text for text in refusals), refusals
    refused = {user.user_id for user in typing + pressing}
    assert not [job for job, user in client.published.items() if user in refused]
    await asyncio.sleep(max(0.0, OUTAGE_S - (time.monotonic() - went_down)))
    await stack.start_postgres()
    back = datetime.now(UTC)
    await asyncio.to_thread(stack.service("billing").wait_ready, 60)
    for job in jobs:  # these finished while billing could not settle them
        assert (await client.final_event(job)).at < back

    # The refused users order again: accepted, done, paid; the refusals reserved nothing.
    again = typing + pressing
    jobs += await asyncio.gather(*(order_via_bot(user, f"pg-after-{n}") for n, user in enumerate(again)))
    verdict = await oracle.verify(jobs, timeout=60, jobs_per_user=1)
    await verdict.assert_all_succeeded(client)


async def offer_price(user: TelegramUserClient, tag: str) -> TranscriptMessage:
    await user.send_text(EXTENDED_FLUX.format(f"chaos {tag}"))
    return await price_shown(user)


async def refused_order(user: TelegramUserClient, n: int) -> str:
    await user.send_text(EXTENDED_FLUX.format(f"chaos pg-down-{n}"))
    return text_of(await user.wait_for_reply(timeout=20))


async def refused_launch(user: TelegramUserClient, offer: TranscriptMessage) -> str:
    await launch(user, offer)
    answer = await user.wait_for_message(predicate=lambda m: "недоступ" in text_of(m), after=offer.message_id)
    return text_of(answer)


async def test_gateway_killed_between_reserve_and_publish_leaves_nothing_pending(
    stack: ChaosStack, client: Bus, oracle: Oracle
) -> None:
    """The narrowest window of a job's start: the gateway is killed the moment billing holds the
    reservations, with the «задача принята» messages still on their way (Telegram slowed down). Whether
    or not it had published the jobs, each one runs (billing hands over a job whose reservation stays
    PENDING without it; see ``billing.handoff`` and its tests for the window itself) and is told."""
    users = [await oracle.new_user() for _ in range(3)]
    offers = []
    for n, user in enumerate(users):
        await user.send_text(EXTENDED_FLUX.format(f"chaos gw-window-{n}"))
        offers.append(await price_shown(user))
    async with stack.telegram() as telegram:
        await telegram.set_latency(3.0, "sendMessage")
    for user, offer in zip(users, offers, strict=True):
        await launch(user, offer)

    async def all_reserved() -> bool:
        return len(await oracle.operations()) == len(users)

    await eventually(all_reserved, 20, "reservations made", interval=0.05)
    stack.kill("gateway-bot")
    async with stack.telegram() as telegram:
        await telegram.clear_faults()
    await stack.start_service("gateway-bot")

    await oracle.verify(timeout=30, jobs_per_user=1)
