"""fal emulator: fal-ai/any-llm default answers, scripted FIFO and recorded calls."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from medialab_sandbox.fal import FalEmulator, content_policy_violation, model_error
from medialab_sandbox.fal.testing import run_request

KEY = "key-id:key-secret"
LLM = "fal-ai/any-llm"

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def ask(fal: FalEmulator, http: httpx.AsyncClient, **body: Any) -> httpx.Response:
    return await run_request(http, fal.queue_base, LLM, body, KEY)


async def test_default_answer_is_deterministic(falemu: FalEmulator, falemu_http: httpx.AsyncClient) -> None:
    first = (await ask(falemu, falemu_http, prompt="кот в шляпе", system_prompt="A")).json()
    again = (await ask(falemu, falemu_http, prompt="кот в шляпе", system_prompt="A")).json()
    other_system = (await ask(falemu, falemu_http, prompt="кот в шляпе", system_prompt="B")).json()

    assert first == again
    assert first["output"] != other_system["output"]
    assert "кот в шляпе" in first["output"]
    assert set(first) == {"output", "reasoning", "partial", "error"}
    assert first["partial"] is False


async def test_scripted_outputs_come_in_order_then_default(
    falemu: FalEmulator, falemu_http: httpx.AsyncClient
) -> None:
    falemu.script_llm("first answer", "second answer")

    outputs = [(await ask(falemu, falemu_http, prompt=f"q{i}")).json()["output"] for i in range(3)]

    assert outputs[:2] == ["first answer", "second answer"]
    assert "q2" in outputs[2]
    assert falemu.llm.pending == 0


async def test_scripted_errors(falemu: FalEmulator, falemu_http: httpx.AsyncClient) -> None:
    falemu.script_llm(model_error(500, "upstream provider failed"), content_policy_violation("bad"))

    upstream = await ask(falemu, falemu_http, prompt="a")
    refused = await ask(falemu, falemu_http, prompt="b")

    assert upstream.status_code == 500
    assert upstream.json() == {"detail": "upstream provider failed"}
    assert refused.status_code == 422
    assert refused.json()["detail"][0]["type"] == "content_policy_violation"


async def test_calls_are_recorded(falemu: FalEmulator, falemu_http: httpx.AsyncClient) -> None:
    await ask(
        falemu, falemu_http, prompt="translate: кот", system_prompt="You translate.", model="openai/gpt-4o"
    )
    await ask(falemu, falemu_http, prompt="plain")

    calls = falemu.llm_calls

    assert [(c.prompt, c.system_prompt, c.model) for c in calls] == [
        ("translate: кот", "You translate.", "openai/gpt-4o"),
        ("plain", None, "google/gemini-2.5-flash-lite"),
    ]
    assert calls[0].request_id == falemu.submits()[0].request_id


async def test_invalid_input_is_not_recorded_as_a_call(
    falemu: FalEmulator, falemu_http: httpx.AsyncClient
) -> None:
    falemu.script_llm("kept for the next valid call")

    rejected = await ask(falemu, falemu_http, prompt="x", model="no/such-model")
    accepted = await ask(falemu, falemu_http, prompt="y")

    assert rejected.status_code == 422
    assert accepted.json()["output"] == "kept for the next valid call"
    assert [c.prompt for c in falemu.llm_calls] == ["y"]


async def test_custom_responder() -> None:
    async with (
        FalEmulator(keys=[KEY], llm_responder=lambda call: call.prompt.upper()) as fal,
        httpx.AsyncClient(timeout=5) as http,
    ):
        response = await run_request(http, fal.queue_base, LLM, {"prompt": "shout"}, KEY)

    assert response.json()["output"] == "SHOUT"
