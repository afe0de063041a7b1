"""fal emulator: ``openrouter/router`` input checks, answers a model would give, scripted FIFO,
recorded calls, and the refusal of the removed ``fal-ai/any-llm``."""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
import pytest
from medialab_sandbox.fal import FalEmulator, content_policy_violation, model_error
from medialab_sandbox.fal.testing import key_header, run_request

KEY = "key-id:key-secret"
LLM = "openrouter/router"
MODEL = "google/gemini-2.5-flash"

TRANSLATE_SYSTEM = "You translate prompts for image-generation models into English."
STYLE_SYSTEM = "Answer with exactly one JSON object: the caption style fields the wish mentions."
WRITE_SYSTEM = "Ты — автор промптов. Превращай слова пользователя в подробный промпт на русском языке."

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def ask(fal: FalEmulator, http: httpx.AsyncClient, **body: Any) -> httpx.Response:
    return await run_request(http, fal.queue_base, LLM, {"model": MODEL, **body}, KEY)


async def output(fal: FalEmulator, http: httpx.AsyncClient, **body: Any) -> str:
    response = await ask(fal, http, **body)
    assert response.status_code == 200, response.text
    return response.json()["output"]


async def test_answer_has_output_and_usage(falemu: FalEmulator, falemu_http: httpx.AsyncClient) -> None:
    body = (await ask(falemu, falemu_http, prompt="кот в шляпе", system_prompt=TRANSLATE_SYSTEM)).json()

    assert set(body) == {"output", "usage"}
    usage = body["usage"]
    assert usage["prompt_tokens"] > 0 and usage["completion_tokens"] > 0
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    assert usage["cost"] > 0


async def test_reasoning_comes_only_when_asked(falemu: FalEmulator, falemu_http: httpx.AsyncClient) -> None:
    body = (await ask(falemu, falemu_http, prompt="кот", reasoning=True)).json()

    assert body["reasoning"]


async def test_translation_request_gets_english(falemu: FalEmulator, falemu_http: httpx.AsyncClient) -> None:
    source = "Рыжий кот спит на подоконнике, надпись «Привет», 3 облака"
    first = await output(falemu, falemu_http, prompt=source, system_prompt=TRANSLATE_SYSTEM)
    again = await output(falemu, falemu_http, prompt=source, system_prompt=TRANSLATE_SYSTEM)

    assert first == again
    assert first.startswith("Ginger cat sleeps on windowsill")
    assert "«Привет»" in first  # an inscription keeps its language
    assert "3" in first
    assert not re.search("[а-яё]", first.replace("«Привет»", ""), re.IGNORECASE)


async def test_style_request_gets_the_json_it_asks_for(
    falemu: FalEmulator, falemu_http: httpx.AsyncClient
) -> None:
    wish = "крупный жёлтый текст сверху на чёрной полупрозрачной плашке"

    answer = await output(falemu, falemu_http, prompt=wish, system_prompt=STYLE_SYSTEM)

    assert json.loads(answer) == {
        "size": "large",
        "color": "#ffff00",
        "position": "top",
        "plate": True,
        "plate_color": "#000000",
        "plate_opacity_pct": 50,
    }
    assert await output(falemu, falemu_http, prompt="сделай красиво", system_prompt=STYLE_SYSTEM) == "{}"


async def test_prompt_request_gets_a_long_prompt_in_the_asked_language(
    falemu: FalEmulator, falemu_http: httpx.AsyncClient
) -> None:
    russian = await output(falemu, falemu_http, prompt="маяк во время шторма", system_prompt=WRITE_SYSTEM)
    english = await output(
        falemu, falemu_http, prompt="маяк во время шторма", system_prompt="Write a detailed image prompt."
    )

    assert len(russian) > 1000
    assert "маяк во время шторма" in russian
    assert "свет" in russian and "Стиль" in russian
    assert "lighthouse during storm" in english
    assert not re.search("[а-яё]", english, re.IGNORECASE)


async def test_max_tokens_cuts_the_answer(falemu: FalEmulator, falemu_http: httpx.AsyncClient) -> None:
    body = (await ask(falemu, falemu_http, prompt="маяк", system_prompt=WRITE_SYSTEM, max_tokens=5)).json()

    assert len(body["output"]) == 20
    assert body["usage"]["completion_tokens"] == 5


@pytest.mark.parametrize(
    ("body", "loc", "error_type"),
    [
        ({"prompt": "x"}, ["model"], "missing"),
        ({"prompt": "x", "model": ""}, ["model"], "string_too_short"),
        ({"model": MODEL}, ["prompt"], "missing"),
        ({"prompt": "x", "model": MODEL, "temperature": 2.5}, ["temperature"], "less_than_equal"),
        ({"prompt": "x", "model": MODEL, "temperature": -0.1}, ["temperature"], "greater_than_equal"),
        ({"prompt": "x", "model": MODEL, "max_tokens": 0}, ["max_tokens"], "greater_than_equal"),
    ],
)
async def test_invalid_input_is_refused(
    falemu: FalEmulator, falemu_http: httpx.AsyncClient, body: dict[str, Any], loc: list[str], error_type: str
) -> None:
    response = await run_request(falemu_http, falemu.queue_base, LLM, body, KEY)

    assert response.status_code == 422
    [item] = response.json()["detail"]
    assert (item["loc"], item["type"]) == (["body", *loc], error_type)


async def test_any_llm_is_refused_as_removed(falemu: FalEmulator, falemu_http: httpx.AsyncClient) -> None:
    response = await falemu_http.post(
        f"{falemu.queue_base}/fal-ai/any-llm", json={"prompt": "x", "model": MODEL}, headers=key_header(KEY)
    )

    assert response.status_code == 410
    assert response.json() == {"detail": "This endpoint is deprecated. This model is no longer supported."}
    assert falemu.llm_calls == []


async def test_scripted_outputs_come_in_order_then_the_model_answers(
    falemu: FalEmulator, falemu_http: httpx.AsyncClient
) -> None:
    falemu.script_llm("first answer", "second answer")

    outputs = [await output(falemu, falemu_http, prompt=f"q{i}") for i in range(3)]

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
        ("plain", None, MODEL),
    ]
    assert calls[0].request_id == falemu.submits()[0].request_id


async def test_invalid_input_is_not_recorded_as_a_call(
    falemu: FalEmulator, falemu_http: httpx.AsyncClient
) -> None:
    falemu.script_llm("kept for the next valid call")

    rejected = await ask(falemu, falemu_http, prompt="x", temperature=7)
    accepted = await ask(falemu, falemu_http, prompt="y")

    assert rejected.status_code == 422
    assert accepted.json()["output"] == "kept for the next valid call"
    assert [c.prompt for c in falemu.llm_calls] == ["y"]


async def test_custom_responder() -> None:
    async with (
        FalEmulator(keys=[KEY], llm_responder=lambda call: call.prompt.upper()) as fal,
        httpx.AsyncClient(timeout=5) as http,
    ):
        response = await run_request(http, fal.queue_base, LLM, {"prompt": "shout", "model": MODEL}, KEY)

    assert response.json()["output"] == "SHOUT"
