"""What every service that runs jobs is built from: the settings of its ``jobs.<runner>.>`` consumer
and its job intake (prompt-llm for M2 too); for the provider runners (fal-runner, wavespeed-runner)
also the settings of their slots and their ``python -m`` entry point.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import sys
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from medialab_contracts import subjects
from medialab_contracts.modes import Runner
from pydantic import Field

from medialab_runtime.deadletter import DeadLetterWatcher
from medialab_runtime.events import EventPublisher
from medialab_runtime.job_state import JobState
from medialab_runtime.jobs import ConsumerSettings, JobConsumer, JobHandler
from medialab_runtime.provisioning import LayoutConfig
from medialab_runtime.service import ServiceContext, run_service
from medialab_runtime.settings import JobSigningSettings

log = logging.getLogger(__name__)


class JobServiceSettings(JobSigningSettings):
    """The settings a service that consumes jobs adds to every service's: its job consumer, and the
    key it checks billing's signature on every job with."""

    consumer_concurrency: int = Field(default=32, ge=1)
    ack_wait_s: float = Field(default=30.0, ge=1)
    max_deliver: int = Field(default=5, ge=1)


class RunnerSettings(JobServiceSettings):
    """A provider runner's settings: its job consumer and its provider slots."""

    # The lease only applies when this process creates the ``slots`` bucket; the bucket's TTL rules.
    slot_lease_s: float = Field(default=30.0, ge=1)
    slot_poll_s: float = Field(default=1.0, gt=0)

    def layout(self) -> LayoutConfig:
        return dataclasses.replace(super().layout(), slots_ttl_s=self.slot_lease_s)


R = TypeVar("R", bound=RunnerSettings)


class RunnerJobs:
    """A service's ``jobs.<runner>.>`` consumer and its dead-letter watcher, in the service's lifecycle.

    Two steps, so a runner can add other endpoints in between: ``open`` starts the watcher (stopped
    late), ``start`` starts consuming (stopped early: in-flight jobs get the shutdown grace to finish).
    """

    def __init__(
        self, ctx: ServiceContext[Any], runner: Runner, consumer: JobConsumer, grace_s: float
    ) -> None:
        self._ctx = ctx
        self._runner = runner
        self._consumer = consumer
        self._grace_s = grace_s

    @classmethod
    async def open(
        cls,
        ctx: ServiceContext[Any],
        settings: JobServiceSettings,
        runner: Runner,
        durable: str,
        handler: JobHandler,
    ) -> RunnerJobs:
        state = await JobState.open(ctx.js)
        events = EventPublisher(ctx.js, ctx.name)
        consumer = JobConsumer(
            ctx.js,
            ctx.name,
            ConsumerSettings(
                durable=durable,
                filter_subject=subjects.runner_filter(runner),
                ack_wait_s=settings.ack_wait_s,
                max_deliver=settings.max_deliver,
                concurrency=settings.consumer_concurrency,
            ),
            handler,
            events,
            state,
            signing_key=settings.job_signing_secret,
        )
        if settings.job_signing_key is None:
            log.warning(
                "JOB_SIGNING_KEY is not set: jobs are run without checking billing's signature, so a job "
                "queued past billing would run unpaid; set billing's key here (production requires it)"
            )
        deadletters = DeadLetterWatcher(ctx.js, events, state, durable)
        await deadletters.start()
        ctx.on_shutdown(deadletters.stop)
        return cls(ctx, runner, consumer, settings.shutdown_grace_s)

    async def start(self) -> None:
        await self._consumer.ensure_consumer()
        self._ctx.spawn(self._consumer.run(), f"{self._runner}-jobs")
        self._ctx.on_shutdown(self._stop)

    async def _stop(self) -> None:
        await self._consumer.stop(self._grace_s)


def run_runner(
    name: str,
    settings: R,
    setup: Callable[[ServiceContext[R]], Awaitable[None]],
    *,
    dist: str,
    check_keys: Callable[[], object],
    key_error: type[Exception],
    key_hint: str = "",
) -> None:
    """``python -m <runner>``: unusable provider keys end the process with status 2 before it starts.

    ``check_keys`` raises ``key_error``, whose message must never show a key; ``key_hint`` goes
    before that message on stderr.
    """
    try:
        check_keys()
    except key_error as error:
        print(f"{name}: {key_hint}{error}", file=sys.stderr)
        raise SystemExit(2) from None
    asyncio.run(
        run_service(name, settings, setup, layout=settings.layout(), dist=dist, freeze_after_start=True)
    )
