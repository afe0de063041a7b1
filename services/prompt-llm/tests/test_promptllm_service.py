"""prompt-llm over a real nats-server, with a scripted stand-in for fal-runner's ``fal.llm``."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import nats
import pytest
from medialab_contracts import subjects
from medialab_contracts.catalog import default_catalog
from medialab_contracts.errors import (
    BadRequest,
    LlmBadOutput,
    MediaLabError,
    ProviderBusy,
    ServiceUnavailable,
    Timeout,
)
from medialab_contracts.events import FailureReason, JobFailed, JobSucceeded
from medialab_contracts.jobs import JobRequest
from medialab_contracts.llm import (
    FalLlmReply,
    FalLlmRequest,
    LlmUsage,
    ParseStyleReply,
    ParseStyleRequest,
    TranslateReply,
    TranslateRequest,
    WritePromptReply,
    WritePromptRequest,
)
from medialab_contracts.modes import Mode
from medialab_devstack.in_process import InProcessServices
from medialab_devstack.job_bus import JobBus
from medialab_runtime.provisioning import LayoutConfig, ensure_layout
from medialab_runtime.rpc import add_endpoint, call
from nats.aio.client import Client
from nats.micro import add_service
from nats.micro.service import Service
from prometheus_client import REGISTRY
from prompt_llm.app import RunningService, serve, setup
from prompt_llm.settings import PromptLlmSettings

GOOD_PROMPT = (Path(__file__).parent / "data" / "good_prompt.ru.txt").read_text(encoding="utf-8").strip()
SHORT_PROMPT = "Рыжий кот на подоконнике, мягкий свет, фотография."
TECHNICAL_PROMPT = GOOD_PROMPT + " 8k, --ar 16:9, 1024x1024, seed 42."
ENGLISH_PROMPT = "A ginger Maine Coon cat sits on a wide windowsill in warm evening light. " * 20
RU_TEXT = "Рыжий кот в шляпе сидит на подоконнике"
EN_TEXT = "A ginger cat in a hat sits on a windowsill"
WISH = "крупный жёлтый текст сверху"
WISH_JSON = '{"size": "large", "color": "#FFFF00", "position": "top"}'
WISH_STYLE = {"size": "large", "color": "#ffff00", "position": "top"}

Scripted = str | MediaLabError


@dataclass
class FakeFalLlm:
    """Answers ``fal.llm`` from a script and records every request, like fal-runner would see them."""

    script: deque[Scripted] = field(default_factory=deque)
    requests: list[FalLlmRequest] = field(default_factory=list)
    delay_s: float = 0.0
    in_flight: set[asyncio.Task[None]] = field(default_factory=set)
    called: asyncio.Event = field(default_factory=asyncio.Event)
    running: int = 0
    peak: int = 0  # the most calls in progress at once

    def push(self, *items: Scripted) -> None:
        self.script.extend(items)

    async def handle(self, request: FalLlmRequest) -> FalLlmReply:
        self.requests.append(request)
        self.called.set()
        self.running += 1
        self.peak = max(self.peak, self.running)
        try:
            await asyncio.sleep(self.delay_s)
        finally:
            self.running -= 1
        if not self.script:
            raise AssertionError("an LLM call nobody scripted")
        item = self.script.popleft()
        if isinstance(item, MediaLabError):
            raise item
        usage = LlmUsage(input_tokens=len(request.prompt), output_tokens=len(item))
        return FalLlmReply(trace_id=request.trace_id, output=item, usage=usage)


@dataclass
class Harness:
    nc: Client
    fal: FakeFalLlm
    running: RunningService

    async def write(self, text: str, timeout: float = 5) -> WritePromptReply:
        return await call(
            self.nc, subjects.LLM_WRITE_PROMPT, WritePromptRequest(text=text), WritePromptReply, timeout
        )

    async def translate(self, text: str) -> TranslateReply:
        return await call(self.nc, subjects.LLM_TRANSLATE, TranslateRequest(text=text), TranslateReply, 5)

    async def parse(self, wish: str) -> ParseStyleReply:
        return await call(self.nc, subjects.LLM_PARSE_STYLE, ParseStyleRequest(wish=wish), ParseStyleReply, 5)


def settings_for(nats_url: str, **overrides: object) -> PromptLlmSettings:
    values: dict[str, object] = {
        "nats_url": nats_url,
        "llm_call_timeout_s": 2.0,
        "llm_reply_margin_s": 0.5,
        **overrides,
    }
    return PromptLlmSettings(**values)  # type: ignore[arg-type]


async def serve_fake_fal(nc: Client) -> tuple[FakeFalLlm, Service]:
    fal = FakeFalLlm()
    fal_service = await add_service(nc, name="fake-fal-llm", version="0.0.1", queue_group="fake-fal-llm")
    await add_endpoint(
        fal_service, "fake-fal-llm", subjects.FAL_LLM, FalLlmRequest, fal.handle, in_flight=fal.in_flight
    )
    return fal, fal_service


async def start(nats_url: str, **overrides: object) -> tuple[Client, FakeFalLlm, RunningService, Service]:
    nc = await nats.connect(nats_url)
    await ensure_layout(nc.jetstream())
    fal, fal_service = await serve_fake_fal(nc)
    running = await serve(nc, nc.jetstream(), settings_for(nats_url, **overrides))
    return nc, fal, running, fal_service


@pytest.fixture
async def harness(nats_url: str) -> AsyncIterator[Harness]:
    nc, fal, running, fal_service = await start(nats_url)
    yield Harness(nc, fal, running)
    await running.stop()
    await fal_service.stop()
    await nc.close()


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


# ----- llm.write_prompt (M2) -------------------------------------------------------------------


async def test_good_prompt_needs_no_repair(harness: Harness) -> None:
    harness.fal.push(GOOD_PROMPT)
    tokens_before = {
        kind: sample("medialab_llm_tokens_total", operation="write_prompt", kind=kind)
        for kind in ("prompt", "completion")
    }
    reply = await harness.write("рыжий кот на окне")
    assert reply.prompt == GOOD_PROMPT and not reply.repaired
    [request] = harness.fal.requests
    assert request.prompt == "рыжий кот на окне"
    assert request.model == "google/gemini-2.5-flash"
    assert "объект" in (request.system_prompt or "").lower()
    assert request.temperature == pytest.approx(0.7)
    assert request.timeout_s == pytest.approx(2.0)  # llm_call_timeout_s of settings_for
    # The provider's token counts (the fake counts characters) are exported as they come.
    for kind, used in (("prompt", len(request.prompt)), ("completion", len(GOOD_PROMPT))):
        assert (
            sample("medialab_llm_tokens_total", operation="write_prompt", kind=kind)
            == tokens_before[kind] + used
        )


@pytest.mark.parametrize(
    "bad", [SHORT_PROMPT, TECHNICAL_PROMPT, ENGLISH_PROMPT], ids=["short", "technical", "english"]
)
async def test_bad_prompt_is_repaired_once(harness: Harness, bad: str) -> None:
    before = sample("medialab_llm_repairs_total", operation="write_prompt", result="fixed")
    harness.fal.push(bad, GOOD_PROMPT)
    reply = await harness.write("рыжий кот на окне")
    assert reply.prompt == GOOD_PROMPT and reply.repaired
    first, second = harness.fal.requests
    assert second.system_prompt == first.system_prompt
    assert bad[:200] in second.prompt and "рыжий кот на окне" in second.prompt
    assert "Problem: the answer" in second.prompt
    assert sample("medialab_llm_repairs_total", operation="write_prompt", result="fixed") == before + 1


@pytest.mark.parametrize(
    "bad", [SHORT_PROMPT, TECHNICAL_PROMPT, ENGLISH_PROMPT], ids=["short", "technical", "english"]
)
async def test_second_bad_prompt_is_a_typed_error(harness: Harness, bad: str) -> None:
    harness.fal.push(bad, bad)
    with pytest.raises(LlmBadOutput):
        await harness.write("рыжий кот на окне")
    assert len(harness.fal.requests) == 2


async def test_provider_errors_arrive_typed(harness: Harness) -> None:
    harness.fal.push(ProviderBusy("all slots busy"))
    with pytest.raises(ProviderBusy):
        await harness.write("кот")
    # A provider failure during the repair call is the provider's error, not a bad output.
    harness.fal.push(SHORT_PROMPT, Timeout("the LLM timed out"))
    with pytest.raises(Timeout):
        await harness.write("кот")


async def test_the_operation_deadline_bounds_both_calls(nats_url: str) -> None:
    nc, fal, running, fal_service = await start(
        nats_url, llm_call_timeout_s=5.0, operation_timeout_s=1.0, min_repair_budget_s=0.5
    )
    try:
        fal.push(SHORT_PROMPT)
        fal.delay_s = 0.6
        with pytest.raises(LlmBadOutput):  # 0.4 s left after the first answer: no repair
            await call(nc, subjects.LLM_WRITE_PROMPT, WritePromptRequest(text="кот"), WritePromptReply, 5)
        [only] = fal.requests
        # The operation's budget (what is left of 1 s once the call is made), not the call's 5 s.
        assert 0.5 < only.timeout_s <= 1.0
    finally:
        await running.stop()
        await fal_service.stop()
        await nc.close()


async def test_blank_text_is_a_bad_request(harness: Harness) -> None:
    with pytest.raises(BadRequest):
        await harness.write("   \n ")
    assert harness.fal.requests == []


async def test_no_fal_runner_is_service_unavailable(nats_url: str) -> None:
    nc = await nats.connect(nats_url)
    await ensure_layout(nc.jetstream())
    running = await serve(nc, nc.jetstream(), settings_for(nats_url))
    try:
        with pytest.raises(ServiceUnavailable):
            await call(nc, subjects.LLM_WRITE_PROMPT, WritePromptRequest(text="кот"), WritePromptReply, 5)
    finally:
        await running.stop()
        await nc.close()


async def test_slow_calls_are_served_concurrently(harness: Harness) -> None:
    # Six calls sent together overlap at a 1 s fal (the service's own timeout here is 2.5 s).
    harness.fal.delay_s = 1.0
    harness.fal.push(*[EN_TEXT] * 6)
    texts = [f"{RU_TEXT} номер {i}" for i in range(6)]
    replies = await asyncio.gather(*(harness.translate(text) for text in texts))
    assert all(r.text == EN_TEXT for r in replies)
    assert harness.fal.peak == 6  # side by side, not one after another


async def test_stop_lets_requests_in_flight_finish(harness: Harness) -> None:
    harness.fal.delay_s = 0.5
    harness.fal.push(GOOD_PROMPT)
    pending = asyncio.create_task(harness.write("кот"))
    await asyncio.wait_for(harness.fal.called.wait(), 5)
    await harness.running.stop()
    assert (await pending).prompt == GOOD_PROMPT
    with pytest.raises(ServiceUnavailable):  # stopped: no longer takes requests
        await harness.write("кот", timeout=1)


# ----- M2 as a job on jobs.llm.prompt ----------------------------------------------------------


def m2_job(words: str) -> JobRequest:
    (model,) = default_catalog().for_mode(Mode.prompt)
    return model.job(Mode.prompt, 7, 7, prompt=words)


@pytest.fixture
async def m2(nats_url: str) -> AsyncIterator[tuple[JobBus, FakeFalLlm]]:
    """prompt-llm as its process runs it (``setup`` under ``run_service``), taking M2 jobs."""
    async with (
        JobBus.connect(nats_url, LayoutConfig()) as bus,
        InProcessServices(bus.nc.jetstream()) as services,
    ):
        fal, fal_service = await serve_fake_fal(bus.nc)
        settings = settings_for(nats_url, http_port=0, log_format="text")
        await services.start_consumer("prompt-llm", settings, setup, subjects.PROMPT_LLM_CONSUMER)
        yield bus, fal
        await fal_service.stop()


async def test_m2_job_ends_with_the_written_prompt(m2: tuple[JobBus, FakeFalLlm]) -> None:
    bus, fal = m2
    fal.push(GOOD_PROMPT)
    final = await bus.run(m2_job("рыжий кот на окне"), timeout=10)
    assert isinstance(final, JobSucceeded)
    assert final.text == GOOD_PROMPT and final.outputs == []
    [request] = fal.requests
    assert request.prompt == "рыжий кот на окне"


async def test_m2_job_with_no_usable_prompt_fails_as_the_providers_error(
    m2: tuple[JobBus, FakeFalLlm],
) -> None:
    bus, fal = m2
    fal.push(SHORT_PROMPT, SHORT_PROMPT)
    final = await bus.run(m2_job("кот"), timeout=10)
    assert isinstance(final, JobFailed) and final.reason is FailureReason.provider_error


async def test_m2_job_is_retried_when_every_provider_slot_was_busy(m2: tuple[JobBus, FakeFalLlm]) -> None:
    bus, fal = m2
    fal.push(ProviderBusy("all slots busy"), GOOD_PROMPT)
    final = await bus.run(m2_job("кот"), timeout=15)
    assert isinstance(final, JobSucceeded) and final.text == GOOD_PROMPT
    assert len(fal.requests) == 2


async def test_m2_job_with_words_over_the_limit_or_none_is_refused_without_a_call(
    m2: tuple[JobBus, FakeFalLlm],
) -> None:
    bus, fal = m2
    final = await bus.run(m2_job("кот " * 600), timeout=10)
    assert isinstance(final, JobFailed) and final.reason is FailureReason.text_too_long, final
    blank = await bus.run(m2_job("   "), timeout=10)
    assert isinstance(blank, JobFailed) and blank.reason is FailureReason.bad_input, blank
    assert fal.requests == []


# ----- llm.translate ---------------------------------------------------------------------------


async def test_english_passes_through_without_a_call(harness: Harness) -> None:
    reply = await harness.translate(EN_TEXT)
    assert reply.text == EN_TEXT and not reply.translated and not reply.cached
    assert harness.fal.requests == []


async def test_translation_is_cleaned_and_cached(harness: Harness) -> None:
    hits = sample("medialab_llm_cache_hits_total", operation="translate")
    harness.fal.push(f"Here is the translation:\n{EN_TEXT}")
    first = await harness.translate(RU_TEXT)
    assert (first.text, first.translated, first.cached) == (EN_TEXT, True, False)
    [request] = harness.fal.requests
    assert request.prompt == RU_TEXT and request.temperature == 0
    again = await harness.translate("  рыжий КОТ в шляпе   сидит на\nподоконнике ")
    assert (again.text, again.translated, again.cached) == (EN_TEXT, True, True)
    assert len(harness.fal.requests) == 1
    assert sample("medialab_llm_cache_hits_total", operation="translate") == hits + 1


@pytest.mark.parametrize(
    "bad",
    [RU_TEXT, "", "Cat.", "I'm sorry, I cannot translate this text for you today."],
    ids=["untranslated", "empty", "short", "chatter"],
)
async def test_bad_translation_is_repaired_then_refused(harness: Harness, bad: str) -> None:
    harness.fal.push(bad, EN_TEXT)
    reply = await harness.translate(RU_TEXT)
    assert reply.text == EN_TEXT and reply.translated
    assert len(harness.fal.requests) == 2 and "Problem: the" in harness.fal.requests[1].prompt

    harness.fal.push(bad, bad)
    with pytest.raises(LlmBadOutput):
        await harness.translate("Рыжая собака в шляпе лежит на диване у окна")
    assert len(harness.fal.requests) == 4


async def test_refused_translation_is_not_cached(harness: Harness) -> None:
    harness.fal.push(RU_TEXT, RU_TEXT, EN_TEXT)
    with pytest.raises(LlmBadOutput):
        await harness.translate(RU_TEXT)
    reply = await harness.translate(RU_TEXT)
    assert reply.text == EN_TEXT and not reply.cached


async def test_cache_can_be_switched_off(nats_url: str) -> None:
    nc, fal, running, fal_service = await start(nats_url, cache_enabled=False)
    try:
        fal.push(EN_TEXT, EN_TEXT)
        for _ in range(2):
            reply = await call(nc, subjects.LLM_TRANSLATE, TranslateRequest(text=RU_TEXT), TranslateReply, 5)
            assert not reply.cached
        assert len(fal.requests) == 2
    finally:
        await running.stop()
        await fal_service.stop()  # type: ignore[attr-defined]
        await nc.close()


# ----- llm.parse_style (M5) --------------------------------------------------------------------


async def test_style_wish_becomes_a_partial_style_and_is_cached(harness: Harness) -> None:
    harness.fal.push(f"```json\n{WISH_JSON}\n```")
    reply = await harness.parse(WISH)
    assert reply.style == WISH_STYLE and not reply.fallback and not reply.cached
    again = await harness.parse("Крупный  жёлтый текст СВЕРХУ")
    assert again.style == WISH_STYLE and again.cached
    assert len(harness.fal.requests) == 1


@pytest.mark.parametrize(
    "bad",
    ['{"size": "large", "color": ', "Крупный жёлтый текст сверху", '{"size_px": 5000}', '{"font": "Arial"}'],
    ids=["broken-json", "prose", "out-of-range", "unknown-field"],
)
async def test_bad_style_json_is_repaired_then_falls_back(harness: Harness, bad: str) -> None:
    harness.fal.push(bad, WISH_JSON)
    reply = await harness.parse(WISH)
    assert reply.style == WISH_STYLE and not reply.fallback
    assert bad in harness.fal.requests[1].prompt

    before = sample("medialab_llm_calls_total", operation="parse_style", outcome="fallback")
    harness.fal.push(bad, bad)
    reply = await harness.parse("белый текст снизу на плашке")
    assert reply.fallback and reply.style == {} and not reply.cached
    assert len(harness.fal.requests) == 4
    assert sample("medialab_llm_calls_total", operation="parse_style", outcome="fallback") == before + 1


async def test_provider_trouble_means_fallback_for_styles(harness: Harness) -> None:
    harness.fal.push(ProviderBusy("busy"))
    reply = await harness.parse(WISH)
    assert reply.fallback
    harness.fal.push(WISH_JSON)
    assert (await harness.parse(WISH)).style == WISH_STYLE


async def test_metrics_count_outcomes_and_provider_calls(harness: Harness) -> None:
    ok = sample("medialab_llm_calls_total", operation="write_prompt", outcome="ok")
    repaired = sample("medialab_llm_calls_total", operation="write_prompt", outcome="repaired")
    raw = sample("medialab_llm_provider_calls_total", operation="write_prompt", result="ok")
    latency = sample("medialab_llm_latency_seconds_count", operation="write_prompt", outcome="ok")
    harness.fal.push(GOOD_PROMPT, SHORT_PROMPT, GOOD_PROMPT)
    await harness.write("кот")
    await harness.write("кот")
    assert sample("medialab_llm_calls_total", operation="write_prompt", outcome="ok") == ok + 1
    assert sample("medialab_llm_calls_total", operation="write_prompt", outcome="repaired") == repaired + 1
    assert sample("medialab_llm_provider_calls_total", operation="write_prompt", result="ok") == raw + 3
    assert sample("medialab_llm_latency_seconds_count", operation="write_prompt", outcome="ok") == latency + 1
    assert any(
        s.labels.get("operation") == "write_prompt" and s.labels.get("version") == "1"
        for m in REGISTRY.collect()
        if m.name == "medialab_llm_prompt_info"
        for s in m.samples
    )
