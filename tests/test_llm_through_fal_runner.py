"""prompt-llm → fal-runner → the fal emulator's ``openrouter/router``, all real: a nats-server,
fal-runner and prompt-llm as processes, the emulator over HTTP with its LLM answers scripted per test
(or its own answers, as a model would give them)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import nats
import pytest
from medialab_contracts import subjects
from medialab_contracts.catalog import LLM_ENDPOINT, LLM_MODEL_DEFAULT
from medialab_contracts.errors import ErrorCode, LlmBadOutput, MediaLabError
from medialab_contracts.jobs import JobRequest
from medialab_contracts.llm import (
    ParseStyleReply,
    ParseStyleRequest,
    TranslateReply,
    TranslateRequest,
    WritePromptReply,
    WritePromptRequest,
)
from medialab_contracts.modes import Mode, Runner
from medialab_devstack.launcher import Stack
from medialab_runtime.provisioning import ensure_layout
from medialab_runtime.rpc import call
from medialab_sandbox.fal import FalEmulator
from medialab_sandbox.fal.errors import infra_error
from medialab_testkit.waiting import eventually
from nats.aio.client import Client
from prompt_llm.app import serve
from prompt_llm.settings import PromptLlmSettings

KEY = "llm-test:secret-0123456789"
GOOD_PROMPT = (
    (Path(__file__).parents[1] / "services/prompt-llm/tests/data/good_prompt.ru.txt")
    .read_text("utf-8")
    .strip()
)
SHORT_PROMPT = "Рыжий кот на подоконнике, мягкий свет, фотография."
TECHNICAL_PROMPT = GOOD_PROMPT + " 8k, --ar 16:9, 1024x1024."
ENGLISH_PROMPT = "A ginger Maine Coon cat sits on a wide windowsill in warm evening light. " * 20
RU_TEXT = "Рыжий кот в шляпе сидит на подоконнике"
EN_TEXT = "A ginger cat in a hat sits on a windowsill"
WISH = "крупный жёлтый текст сверху"
WISH_JSON = '{"size": "large", "color": "#FFFF00", "position": "top"}'
WISH_STYLE = {"size": "large", "color": "#ffff00", "position": "top"}
RPC_TIMEOUT = 30.0
IMAGE_MODEL = "fal-ai/nano-banana"
LLM = LLM_ENDPOINT


@dataclass
class Llm:
    """prompt-llm's three operations called over NATS, and what the emulated LLM was asked."""

    nc: Client
    fal: FalEmulator

    async def write(self, text: str) -> WritePromptReply:
        request = WritePromptRequest(text=text)
        return await call(self.nc, subjects.LLM_WRITE_PROMPT, request, WritePromptReply, RPC_TIMEOUT)

    async def translate(self, text: str) -> TranslateReply:
        request = TranslateRequest(text=text)
        return await call(self.nc, subjects.LLM_TRANSLATE, request, TranslateReply, RPC_TIMEOUT)

    async def parse(self, wish: str) -> ParseStyleReply:
        request = ParseStyleRequest(wish=wish)
        return await call(self.nc, subjects.LLM_PARSE_STYLE, request, ParseStyleReply, RPC_TIMEOUT)

    def llm_prompts(self) -> list[str]:
        return [c.prompt for c in self.fal.llm_calls]


StartStack = Callable[..., Awaitable[Llm]]


@pytest.fixture
async def start_stack(nats_url: str, tmp_path: Path) -> AsyncIterator[StartStack]:
    """The emulator, fal-runner as a process with ``concurrency`` slots per key, and prompt-llm
    in this process (quick) or as its own process (``python -m prompt_llm``)."""
    async with contextlib.AsyncExitStack() as cleanup:

        async def start(concurrency: int, *, prompt_llm_process: bool = False) -> Llm:
            fal = await cleanup.enter_async_context(FalEmulator([KEY]))
            env = {
                "NATS_URL": nats_url,
                "FAL_CONCURRENCY_PER_ACCOUNT": str(concurrency),
                "SLOT_POLL_S": "0.2",
                # Nothing is in flight when a test ends; don't let a slow stop hold the suite.
                "SHUTDOWN_GRACE_S": "2",
            }
            processes = Stack(data_dir=tmp_path, env=env)
            processes.use_fal(fal.base_url, KEY)
            cleanup.push_async_callback(asyncio.to_thread, processes.stop)
            nc = await nats.connect(nats_url)
            cleanup.push_async_callback(nc.close)
            # prompt-llm in this process skips run_service, which creates its part of the layout.
            await ensure_layout(nc.jetstream())
            names = ["fal-runner", "prompt-llm"] if prompt_llm_process else ["fal-runner"]
            # Waiting for readiness blocks; the emulator serves from this event loop: wait in threads.
            await asyncio.gather(*(asyncio.to_thread(processes.start_service, name) for name in names))
            if not prompt_llm_process:
                running = await serve(nc, nc.jetstream(), PromptLlmSettings(nats_url=nats_url))
                cleanup.push_async_callback(running.stop)
            return Llm(nc, fal)

        yield start


@pytest.fixture
async def stack(start_stack: StartStack) -> Llm:
    return await start_stack(4)


async def test_write_prompt_repairs_each_kind_of_bad_answer_once(stack: Llm) -> None:
    stack.fal.script_llm(GOOD_PROMPT)
    reply = await stack.write("рыжий кот на окне")
    assert reply.prompt == GOOD_PROMPT and not reply.repaired
    [first] = stack.fal.llm_calls
    assert first.model == LLM_MODEL_DEFAULT and first.prompt == "рыжий кот на окне"
    assert first.system_prompt and "освещение" in first.system_prompt.lower()

    for bad in (SHORT_PROMPT, TECHNICAL_PROMPT, ENGLISH_PROMPT):
        stack.fal.recorder.clear()
        stack.fal.script_llm(bad, GOOD_PROMPT)
        reply = await stack.write("рыжий кот на окне")
        assert reply.prompt == GOOD_PROMPT and reply.repaired
        assert len(stack.fal.llm_calls) == 2 and bad[:100] in stack.llm_prompts()[1]

        stack.fal.script_llm(bad, bad)
        with pytest.raises(LlmBadOutput):
            await stack.write("рыжий кот на окне")
        assert len(stack.fal.llm_calls) == 4


async def test_unscripted_answers_are_accepted_for_every_operation(stack: Llm) -> None:
    """What the emulated model answers by itself passes prompt-llm's checks: a validator that
    refused it would refuse a plausible real answer."""
    written = await stack.write("старый маяк на скале во время шторма")
    assert "маяк" in written.prompt and not written.repaired
    translated = await stack.translate(RU_TEXT)
    assert translated.translated and translated.text.startswith("Ginger cat")
    style = await stack.parse("крупный жёлтый текст сверху на чёрной плашке")
    assert style.style == {**WISH_STYLE, "plate": True, "plate_color": "#000000"}
    calls = stack.fal.llm_calls
    assert len(calls) == 3 and {call.model for call in calls} == {LLM_MODEL_DEFAULT}


async def test_translate_repairs_caches_and_passes_english_through(stack: Llm) -> None:
    stack.fal.script_llm(RU_TEXT, f"Here is the translation:\n{EN_TEXT}")
    reply = await stack.translate(RU_TEXT)
    assert reply.text == EN_TEXT and reply.translated and not reply.cached
    assert "Problem: the answer must be in English" in stack.llm_prompts()[1]
    assert len(stack.fal.llm_calls) == 2

    cached = await stack.translate("рыжий  КОТ в шляпе сидит на подоконнике")
    assert cached.text == EN_TEXT and cached.cached
    passthrough = await stack.translate(EN_TEXT)
    assert passthrough.text == EN_TEXT and not passthrough.translated
    assert len(stack.fal.llm_calls) == 2  # neither the cache hit nor English reached the LLM

    stack.fal.script_llm("", "Cat.")
    with pytest.raises(LlmBadOutput):
        await stack.translate("Рыжая собака в шляпе лежит на диване у окна")
    assert len(stack.fal.llm_calls) == 4


async def test_parse_style_repairs_caches_and_falls_back(stack: Llm) -> None:
    stack.fal.script_llm('{"size": "large", "color": ', f"```json\n{WISH_JSON}\n```")
    reply = await stack.parse(WISH)
    assert reply.style == WISH_STYLE and not reply.fallback
    assert len(stack.fal.llm_calls) == 2

    again = await stack.parse(WISH.upper())
    assert again.style == WISH_STYLE and again.cached
    assert len(stack.fal.llm_calls) == 2

    stack.fal.script_llm("Крупный белый текст", '{"size_px": 99999}')
    fallback = await stack.parse("белый текст снизу")
    assert fallback.fallback and fallback.style == {}
    assert len(stack.fal.llm_calls) == 4


async def test_llm_failures_arrive_as_typed_errors(stack: Llm) -> None:
    stack.fal.script_llm(infra_error(500))
    with pytest.raises(MediaLabError) as failed:
        await stack.write("кот")
    assert failed.value.code in {ErrorCode.provider_error, ErrorCode.provider_busy, ErrorCode.timeout}
    # The same failure for a style wish is the signal to use the rule-based parser.
    stack.fal.script_llm(infra_error(500))
    assert (await stack.parse("белый текст")).fallback


async def test_llm_calls_wait_for_the_same_provider_slots_as_image_jobs(start_stack: StartStack) -> None:
    stack = await start_stack(2, prompt_llm_process=True)
    fal = stack.fal
    fal.slow_jobs(2.0, count=2, model=IMAGE_MODEL)
    js = stack.nc.jetstream()
    for _ in range(2):
        job = JobRequest(
            user_id=1,
            chat_id=1,
            mode=Mode.create,
            runner=Runner.fal,
            model_key="nb",
            model_id=IMAGE_MODEL,
            price=800,
            prompt="рыжий кот",
            aspect_ratio="1:1",
        )
        await js.publish(job.subject, job.model_dump_json().encode(), headers={"Nats-Msg-Id": job.job_id})
    await eventually(lambda: fal.concurrency(KEY).in_flight == 2, timeout=15)

    fal.script_llm(EN_TEXT)
    translate = asyncio.create_task(stack.translate(RU_TEXT))
    await asyncio.sleep(0.7)
    assert not translate.done() and fal.submits(model=LLM) == []  # both slots are taken

    reply = await translate
    assert reply.text == EN_TEXT and reply.translated
    images = [fal.job(s.request_id) for s in fal.submits(model=IMAGE_MODEL)]
    [llm_submit] = fal.submits(model=LLM)
    llm_job = fal.job(llm_submit.request_id or "")
    assert llm_job is not None and all(job is not None and job.completed_at for job in images)
    assert llm_job.submitted_at >= min(job.completed_at or 0 for job in images if job)
    assert fal.concurrency(KEY).max_in_flight == 2
    await eventually(lambda: fal.concurrency(KEY).in_flight == 0, timeout=15)
