"""The fal emulator against the fal snapshots, over HTTP (issue 25 item 2).

It must accept what a snapshot accepts and answer in the snapshot's shape, and refuse what the
snapshot refuses the way fal does (a 422 ``detail`` list replayed by the result). Bodies are the
snapshots' own examples and variants of them with one thing broken.
"""

from __future__ import annotations

import asyncio
import dataclasses
import io
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import pytest_asyncio
from medialab_sandbox.fal import FalEmulator, inference
from medialab_sandbox.fal.testing import key_header
from medialab_sandbox.snapshots import Snapshot, invalid_requests, of_provider, snapshot, valid_requests
from PIL import Image

pytestmark = pytest.mark.asyncio(loop_scope="module")

KEY = "conformance-id:conformance-secret"
MODELS = [s for s in of_provider("fal", "model") if s.endpoint != "openrouter/router"]


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def fal() -> AsyncIterator[FalEmulator]:
    async with FalEmulator(keys=[KEY]) as emulator:
        yield emulator


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=30) as client:
        yield client


def _png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (96, 64), (200, 80, 40)).save(out, "PNG")
    return out.getvalue()


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def input_url(fal: FalEmulator, http: httpx.AsyncClient) -> str:
    """A PNG on the emulator's CDN, uploaded the way fal_client does; both answers checked."""
    token = await http.post(
        f"{fal.rest_base}/storage/auth/token", params={"storage_type": "fal-cdn-v3"}, json={},
        headers=key_header(KEY),
    )  # fmt: skip
    assert token.status_code == 200
    assert snapshot("fal storage token").response_errors(token.json()) == []
    grant = token.json()
    upload = await http.post(
        f"{grant['base_url']}/files/upload",
        content=_png(),
        headers={"Content-Type": "image/png", "Authorization": f"{grant['token_type']} {grant['token']}"},
    )
    assert upload.status_code == 200
    assert snapshot("fal storage upload").response_errors(upload.json()) == []
    return str(upload.json()["access_url"])


def _with_inputs(body: dict[str, Any], url: str) -> dict[str, Any]:
    body = dict(body)
    if "image_urls" in body:
        body["image_urls"] = [url]
    if "image_url" in body:
        body["image_url"] = url
    return body


async def _run(http: httpx.AsyncClient, fal: FalEmulator, model_id: str, body: Any) -> httpx.Response:
    """Submit, poll to completion and fetch the result; every queue answer checked on the way."""
    submitted = await http.post(f"{fal.queue_base}/{model_id}", json=body, headers=key_header(KEY))
    if submitted.status_code >= 400:
        return submitted
    assert snapshot("fal queue submit").response_errors(submitted.json()) == []
    urls = submitted.json()
    for _ in range(2000):
        status = await http.get(urls["status_url"], headers=key_header(KEY))
        assert status.status_code in (200, 202)
        assert snapshot("fal queue status").response_errors(status.json()) == []
        if status.status_code == 200:
            break
        await asyncio.sleep(0.005)
    return await http.get(urls["response_url"], headers=key_header(KEY))


@pytest.mark.parametrize("snap", [s for s in MODELS if not s.removed], ids=lambda s: s.endpoint)
async def test_emulator_accepts_the_examples_and_answers_in_shape(
    snap: Snapshot, fal: FalEmulator, http: httpx.AsyncClient, input_url: str
) -> None:
    for example in snap.examples.request:
        result = await _run(http, fal, snap.endpoint, _with_inputs(example, input_url))
        assert result.status_code == 200, result.text
        assert snap.response_errors(result.json()) == []


@pytest.mark.parametrize("snap", [s for s in MODELS if not s.removed], ids=lambda s: s.endpoint)
async def test_emulator_accepts_every_value_the_snapshot_allows(
    snap: Snapshot, fal: FalEmulator, http: httpx.AsyncClient, input_url: str
) -> None:
    example = _with_inputs(snap.examples.request[0], input_url)
    refused = []
    for label, body in valid_requests(snap, example):
        result = await _run(http, fal, snap.endpoint, body)
        if result.status_code != 200 or snap.response_errors(result.json()):
            refused.append(f"{label}: HTTP {result.status_code} {result.text[:200]}")
    assert refused == []


async def test_a_renamed_emulator_field_fails_the_conformance_check(
    monkeypatch: pytest.MonkeyPatch, fal: FalEmulator, http: httpx.AsyncClient, input_url: str
) -> None:
    """The guard works on the emulator side too: rename one output field and the check reports it."""
    honest = inference.MODELS["fal-ai/retoucher"]

    async def renamed(inp: Any, ctx: Any) -> dict[str, Any]:
        body = await honest.run(inp, ctx)
        body["picture"] = body.pop("image")
        return body

    monkeypatch.setitem(inference.MODELS, "fal-ai/retoucher", dataclasses.replace(honest, run=renamed))
    snap = snapshot("fal-ai/retoucher")
    result = await _run(http, fal, snap.endpoint, _with_inputs(snap.examples.request[0], input_url))
    assert result.status_code == 200
    assert snap.response_errors(result.json()) == ["<body>: 'image' is a required property"]


def _refused_like_fal(response: httpx.Response) -> bool:
    if response.status_code != 422:
        return False
    detail = response.json().get("detail")
    return isinstance(detail, list) and all(item.get("loc", [None])[0] == "body" for item in detail)


@pytest.mark.parametrize("snap", [s for s in MODELS if not s.removed], ids=lambda s: s.endpoint)
async def test_emulator_refuses_what_the_snapshot_refuses(
    snap: Snapshot, fal: FalEmulator, http: httpx.AsyncClient, input_url: str
) -> None:
    example = _with_inputs(snap.examples.request[0], input_url)
    accepted = []
    for label, body in invalid_requests(snap, example):
        if not _refused_like_fal(await _run(http, fal, snap.endpoint, body)):
            accepted.append(label)
    assert accepted == []


async def test_emulator_cancel_answers_in_shape(fal: FalEmulator, http: httpx.AsyncClient) -> None:
    fal.slow_jobs(5.0, model="fal-ai/nano-banana")
    submitted = await http.post(
        f"{fal.queue_base}/fal-ai/nano-banana", json={"prompt": "x"}, headers=key_header(KEY)
    )
    cancelled = await http.put(submitted.json()["cancel_url"], headers=key_header(KEY))
    assert cancelled.status_code == 202
    assert snapshot("fal queue cancel").response_errors(cancelled.json()) == []
    fal.clear_faults()


# ----- the LLM: openrouter/router served, fal-ai/any-llm refused ---------------------------------


async def test_emulator_serves_openrouter_router(fal: FalEmulator, http: httpx.AsyncClient) -> None:
    router = snapshot("openrouter/router")
    example = router.examples.request[0]
    for label, body in [("example", example), *valid_requests(router, example)]:
        result = await _run(http, fal, router.endpoint, body)
        assert result.status_code == 200, f"{label}: {result.text}"
        assert router.response_errors(result.json()) == [], label


async def test_emulator_refuses_what_the_router_snapshot_refuses(
    fal: FalEmulator, http: httpx.AsyncClient
) -> None:
    router = snapshot("openrouter/router")
    accepted = []
    for label, body in invalid_requests(router, router.examples.request[0]):
        if not _refused_like_fal(await _run(http, fal, router.endpoint, body)):
            accepted.append(label)
    assert accepted == []


async def test_emulator_refuses_any_llm_like_a_removed_endpoint(
    fal: FalEmulator, http: httpx.AsyncClient
) -> None:
    removed = snapshot("fal-ai/any-llm")
    body = {"prompt": "hello", "model": "anthropic/claude-3.5-sonnet"}
    answer = await _run(http, fal, removed.endpoint, body)
    assert answer.status_code in removed.refusal_status
    assert removed.response_errors(answer.json()) == []
