"""Wiring: the operations behind one nats.micro service ``prompt-llm`` (queue group ``prompt-llm``), and
the consumer of M2 jobs on ``jobs.llm.>``.

An LLM call takes seconds, so every request runs in its own task (``add_endpoint(in_flight=…)``);
on shutdown the service stops taking requests and waits for those in flight before NATS drains.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

from medialab_contracts import subjects
from medialab_contracts.llm import ParseStyleRequest, TranslateRequest, WritePromptRequest
from medialab_contracts.modes import Runner
from medialab_runtime.rpc import add_endpoint
from medialab_runtime.runner import RunnerJobs
from medialab_runtime.service import ServiceContext, package_version
from medialab_runtime.tasks import cancel_and_wait
from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.micro import add_service
from nats.micro.service import Service

from prompt_llm.cache import LlmCache
from prompt_llm.jobs import PromptJobHandler
from prompt_llm.llm_client import LlmClient
from prompt_llm.operations import PromptLlm, Prompts
from prompt_llm.settings import PromptLlmSettings

log = logging.getLogger(__name__)

NAME = "prompt-llm"
DIST = "medialab-prompt-llm"


@dataclass
class RunningService:
    operations: PromptLlm
    micro: Service
    grace_s: float
    in_flight: set[asyncio.Task[None]] = field(default_factory=set)

    async def stop(self) -> None:
        await self.micro.stop()
        if not self.in_flight:
            return
        log.info("waiting for %d requests in flight", len(self.in_flight))
        _, late = await asyncio.wait(set(self.in_flight), timeout=self.grace_s)
        if late:
            log.warning("%d requests cut off at shutdown", len(late))
            await cancel_and_wait(late)


def _semver() -> str:
    found = package_version(DIST)
    return found if found[0].isdigit() and "+" not in found else "0.0.0"


async def serve(nc: Client, js: JetStreamContext, settings: PromptLlmSettings) -> RunningService:
    """Register the ``llm.*`` endpoints; the caller stops the returned service on shutdown."""
    prompts = Prompts.load()
    prompts.announce()
    llm = LlmClient(nc, settings.llm_model, settings.llm_reply_margin_s)
    cache = LlmCache(await js.key_value(subjects.LLM_CACHE_BUCKET)) if settings.cache_enabled else None
    operations = PromptLlm(llm, cache, settings, prompts)
    micro = await add_service(
        nc,
        name=NAME,
        version=_semver(),
        description="Prompt engineering over fal's LLM endpoint: write_prompt, translate, parse_style",
        metadata={
            "model": settings.llm_model,
            "prompts": ",".join(
                p.tag for p in (prompts.write_prompt, prompts.translate, prompts.parse_style)
            ),
        },
        queue_group=NAME,
    )
    running = RunningService(operations, micro, settings.shutdown_grace_s)
    flight = running.in_flight
    await add_endpoint(
        micro,
        NAME,
        subjects.LLM_WRITE_PROMPT,
        WritePromptRequest,
        operations.write_prompt,
        in_flight=flight,
    )
    await add_endpoint(
        micro, NAME, subjects.LLM_TRANSLATE, TranslateRequest, operations.translate, in_flight=flight
    )
    await add_endpoint(
        micro,
        NAME,
        subjects.LLM_PARSE_STYLE,
        ParseStyleRequest,
        operations.parse_style,
        in_flight=flight,
    )
    log.info("serving llm.* with model %s", settings.llm_model)
    return running


async def setup(ctx: ServiceContext[PromptLlmSettings]) -> None:
    running = await serve(ctx.nc, ctx.js, ctx.settings)
    ctx.on_shutdown(running.stop)
    jobs = await RunnerJobs.open(
        ctx, ctx.settings, Runner.llm, subjects.PROMPT_LLM_CONSUMER, PromptJobHandler(running.operations)
    )
    await jobs.start()
