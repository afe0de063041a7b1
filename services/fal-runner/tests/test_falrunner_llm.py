"""The ``fal.llm`` endpoint: one ``openrouter/router`` call per request, typed errors, the same slot
pool as jobs."""

from __future__ import annotations

import asyncio

import pytest
from medialab_contracts import subjects
from medialab_contracts.errors import ProviderBusy, ProviderError, ProviderRejected, Timeout
from medialab_contracts.events import JobSucceeded
from medialab_contracts.llm import FalLlmReply, FalLlmRequest
from medialab_runtime.rpc import call
from medialab_sandbox.fal import FalEmulator, content_policy_violation, model_error
from medialab_testkit.fal import KEY, Bus, RunnerFactory, make_job


async def ask(bus: Bus, request: FalLlmRequest) -> FalLlmReply:
    return await call(bus.nc, subjects.FAL_LLM, request, FalLlmReply, timeout=request.timeout_s + 5)


async def test_llm_calls_are_answered_concurrently_with_the_models_output(
    fal: FalEmulator, bus: Bus, start_runner: RunnerFactory
) -> None:
    await start_runner(fal_concurrency_per_account=4)  # four in progress at once: an upgraded account
    # Long enough that four calls sent together overlap at fal however busy the machine is.
    fal.set_latency(run_seconds=3.0)
    fal.script_llm("first answer")
    request = FalLlmRequest(
        model="google/gemini-2.5-flash",
        prompt="write",
        system_prompt="be brief",
        temperature=0.2,
        max_tokens=50,
    )
    replies = await asyncio.gather(*(ask(bus, request) for _ in range(4)))
    assert fal.concurrency(KEY).max_running == 4  # side by side at fal, not one after another
    assert "first answer" in {reply.output for reply in replies} and all(r.output for r in replies)
    assert all(r.usage.input_tokens > 0 and r.usage.output_tokens > 0 for r in replies)
    submit = fal.submits(model="openrouter/router")[0]
    assert submit.body == {
        "prompt": "write",
        "model": "google/gemini-2.5-flash",
        "reasoning": False,
        "system_prompt": "be brief",
        "temperature": 0.2,
        "max_tokens": 50,
    }


async def test_reasoning_comes_back_when_asked(
    fal: FalEmulator, bus: Bus, start_runner: RunnerFactory
) -> None:
    await start_runner()
    reply = await ask(bus, FalLlmRequest(model="google/gemini-2.5-flash", prompt="hi", reasoning=True))
    assert reply.reasoning


async def test_llm_errors_are_typed(fal: FalEmulator, bus: Bus, start_runner: RunnerFactory) -> None:
    await start_runner()
    with pytest.raises(ProviderRejected):
        await ask(bus, FalLlmRequest(model="", prompt="hi"))  # fal refuses a request without a model
    fal.script_llm(content_policy_violation("hi"))
    with pytest.raises(ProviderRejected):
        await ask(bus, FalLlmRequest(model="google/gemini-2.5-flash", prompt="hi"))
    fal.script_llm(model_error(500, "upstream exploded"))
    with pytest.raises(ProviderError) as failed:
        await ask(bus, FalLlmRequest(model="google/gemini-2.5-flash", prompt="hi"))
    assert "exploded" not in str(failed.value)
    fal.script_llm(model_error(504, "Request timed out"))
    with pytest.raises(Timeout):  # the model did not answer in fal's time: the user hears "timeout"
        await ask(bus, FalLlmRequest(model="google/gemini-2.5-flash", prompt="hi"))
    fal.slow_jobs(30)
    with pytest.raises(Timeout):
        await ask(bus, FalLlmRequest(model="google/gemini-2.5-flash", prompt="hi", timeout_s=1))


async def test_llm_calls_share_the_slots_of_image_jobs(
    fal: FalEmulator, bus: Bus, start_runner: RunnerFactory
) -> None:
    await start_runner(fal_concurrency_per_account=1)
    fal.slow_jobs(2, model="fal-ai/nano-banana")
    job = make_job("nb")
    await bus.publish(job)
    await bus.wait_until(lambda: bool(bus.progress(job.job_id)))  # submitted: it holds the slot
    with pytest.raises(ProviderBusy):
        await ask(bus, FalLlmRequest(model="google/gemini-2.5-flash", prompt="hi", timeout_s=0.5))
    reply = await ask(bus, FalLlmRequest(model="google/gemini-2.5-flash", prompt="hi", timeout_s=10))
    assert reply.output
    assert isinstance(await bus.wait_final(job.job_id), JobSucceeded)
    assert fal.concurrency(fal_key(fal)).max_in_flight == 1


def fal_key(fal: FalEmulator) -> str:
    [key] = fal.submit_counts_by_key()
    return key
