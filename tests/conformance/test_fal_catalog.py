"""The catalog's fal bodies and fal-runner's parsing against the fal snapshots (issue 25 item 2).

Bodies are built by the code the runner uses (``fal_runner.arguments``) for every catalog model
and every size, aspect ratio and input count the product can send. The runner's parsers read the
snapshots' example answers, replayed at the wire, and refuse answers the snapshots refuse.
"""

from __future__ import annotations

import dataclasses
import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fal_runner import arguments as fal_arguments
from fal_runner import llm as fal_llm
from fal_runner import outputs as fal_outputs
from fal_runner.arguments import MODELS as RUNNER_MODELS
from fal_runner.arguments import build_arguments
from fal_runner.fal_api import FalClient, FalRejected
from fal_runner.llm import RouterOutput, llm_arguments
from fal_runner.outputs import output_urls
from medialab_contracts.catalog import DEFAULT_EDIT_SIZE, FORMATS, ModelSpec, default_catalog
from medialab_contracts.jobs import ImageSize, JobRequest
from medialab_contracts.llm import FalLlmRequest
from medialab_contracts.media import MediaRef
from medialab_contracts.modes import Mode, Provider, Runner
from medialab_runtime.provider_keys import ProviderKey
from medialab_sandbox.snapshots import Snapshot, all_snapshots, of_provider, snapshot
from pydantic import ValidationError, create_model

CATALOG = default_catalog()
IMAGE_MODELS = [m for m in CATALOG.models if m.runner is Runner.fal]
PROVIDER_MODELS = [m for m in CATALOG.models if m.provider is not Provider.local]
ASPECTS = ("21:9", "16:9", "4:3", "1:1", "3:4", "9:16")
QUEUE = "https://queue.fal.run"
REST = "https://rest.fal.ai"
REPO = Path(__file__).resolve().parents[2]
SEEDREAM_AREA = (960 * 960, 4096 * 4096)  # the seedream snapshots' note: not expressible in JSON Schema


def _jobs(model: ModelSpec) -> Iterator[JobRequest]:
    """Every shape of job the product sends to ``model``: input counts × (sizes, aspect ratios, image
    counts)."""
    spec = RUNNER_MODELS[model.model_id]
    mode = min(model.modes, default=Mode.create)
    sizes = [None, ImageSize(width=DEFAULT_EDIT_SIZE[0], height=DEFAULT_EDIT_SIZE[1])]
    formats = {f for m in CATALOG.models for f in m.formats} | set(FORMATS)  # any model's buttons
    sizes += [
        ImageSize(width=f.width, height=f.height)
        for f in sorted(formats, key=lambda f: (f.key, f.width, f.height))
    ]
    for count in range(spec.min_images, spec.max_images + 1):
        inputs = [MediaRef(object_name=f"inputs/{i}.png", content_type="image/png") for i in range(count)]
        shapes: list[dict[str, Any]] = [{"size": size} for size in sizes]
        shapes += [{"aspect_ratio": aspect} for aspect in ASPECTS]
        for shape in shapes:
            yield model.job(mode, 1001, 1001, prompt="рыжая лиса в снегу", inputs=inputs, **shape)
        # Variants: every image count its buttons offer is a num_images the snapshot allows.
        for images in model.variant_choices:
            yield model.job(mode, 1001, 1001, prompt="рыжая лиса в снегу", inputs=inputs, images=images)


def catalog_body_errors(model: ModelSpec) -> list[str]:
    """What is wrong with any body the runner builds for ``model``, per its snapshot."""
    snap = snapshot(model.model_id)
    problems: list[str] = []
    for job in _jobs(model):
        urls = [f"https://v3.fal.media/files/in/{i}.png" for i in range(len(job.inputs))]
        body = build_arguments(job, urls)
        problems += [f"{json.dumps(body)}: {error}" for error in snap.request_errors(body)]
        size = body.get("image_size")
        if "seedream" in model.model_id and isinstance(size, dict):
            area = size["width"] * size["height"]
            if not SEEDREAM_AREA[0] <= area <= SEEDREAM_AREA[1]:
                problems.append(f"{json.dumps(body)}: image_size area {area} outside 960²…4096²")
    return problems


@pytest.mark.parametrize("model", PROVIDER_MODELS, ids=lambda m: m.key)
def test_every_catalog_model_has_a_live_snapshot(model: ModelSpec) -> None:
    snap = all_snapshots().get(model.model_id)
    assert snap is not None, f"no snapshot for {model.model_id}"
    assert not snap.removed, f"{model.model_id} is removed upstream; use {snap.successor}"


@pytest.mark.parametrize("model", IMAGE_MODELS, ids=lambda m: m.key)
def test_catalog_bodies_match_the_request_snapshot(model: ModelSpec) -> None:
    assert catalog_body_errors(model) == []


def test_a_misspelt_field_in_the_catalog_fails_the_conformance_check(monkeypatch: pytest.MonkeyPatch) -> None:
    """The guard works: rename one field the runner sends and the same check reports it."""
    model = CATALOG.by_key("nb")
    honest = fal_arguments.MODELS[model.model_id]

    def misspelt(job: JobRequest, urls: list[str]) -> dict[str, Any]:
        body = honest.build(job, urls)
        body["aspect_ratios"] = body.pop("aspect_ratio", "1:1")
        return body

    monkeypatch.setitem(fal_arguments.MODELS, model.model_id, dataclasses.replace(honest, build=misspelt))
    problems = catalog_body_errors(model)
    assert problems and all("aspect_ratios" in p for p in problems)


IMAGE_SNAPSHOTS = [s for s in of_provider("fal", "model") if s.endpoint in RUNNER_MODELS]


def output_reading_problems(snap: Snapshot) -> list[str]:
    """Where fal-runner's reading of result images (the function OutputStore calls) misses the
    images of ``snap``'s example answers."""
    problems: list[str] = []
    for body in snap.examples.response:
        files = body["images"] if "images" in body else [body["image"]]
        expected = [f["url"] for f in files]
        read = fal_outputs.output_urls(body)
        if read != expected:
            problems.append(f"{snap.endpoint}: read {read}, the answer has {expected}")
    return problems


@pytest.mark.parametrize("snap", IMAGE_SNAPSHOTS, ids=lambda s: s.endpoint)
def test_runner_reads_the_output_urls_of_every_example(snap: Snapshot) -> None:
    assert output_reading_problems(snap) == []


def test_a_renamed_field_in_the_result_parser_fails_the_conformance_check(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The guard works on the runner's parser: read ``images`` under another name and the check
    reports every model that answers with ``images``, and only those."""

    def renamed(body: dict[str, Any]) -> list[str]:
        files = body.get("image_list")
        if not isinstance(files, list):
            files = [body.get("image")]
        return [str(f["url"]) for f in files if isinstance(f, dict) and isinstance(f.get("url"), str)]

    monkeypatch.setattr(fal_outputs, "output_urls", renamed)
    failing = {snap.endpoint for snap in IMAGE_SNAPSHOTS if output_reading_problems(snap)}
    answering_images = {s.endpoint for s in IMAGE_SNAPSHOTS if "images" in s.examples.response[0]}
    assert answering_images and failing == answering_images


@pytest.mark.parametrize(
    "body", [{}, {"images": []}, {"image": {}}, {"images": [{"content_type": "image/png"}]}]
)
def test_runner_finds_no_output_in_answers_the_snapshots_refuse(body: dict[str, Any]) -> None:
    assert all(snap.response_errors(body) for snap in IMAGE_SNAPSHOTS)
    assert output_urls(body) == []  # OutputStore turns this into "the result has no images"


# ----- the queue and storage answers, replayed at the wire ----------------------------------------

KEY = ProviderKey.of("key-id:key-secret")


def _client(answers: dict[str, Any]) -> FalClient:
    """A FalClient whose HTTP answers are ``answers[path]`` (JSON, HTTP 200)."""

    def serve(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=answers[request.url.path])

    http = httpx.AsyncClient(transport=httpx.MockTransport(serve))
    return FalClient(http, queue_base=QUEUE, rest_base=REST)


def _deadline() -> float:
    return time.monotonic() + 5


@pytest.mark.parametrize("answer", snapshot("fal queue submit").examples.response)
async def test_runner_reads_the_submit_examples(answer: dict[str, Any]) -> None:
    client = _client({"/fal-ai/nano-banana": answer})
    submission = await client.submit(KEY, "fal-ai/nano-banana", {"prompt": "x"}, _deadline())
    assert submission.request_id == answer["request_id"]
    assert submission.status_url == answer["status_url"]
    await client.aclose()


async def test_runner_refuses_a_submit_answer_without_request_id() -> None:
    bad = {k: v for k, v in snapshot("fal queue submit").examples.response[0].items() if k != "request_id"}
    assert snapshot("fal queue submit").response_errors(bad)
    client = _client({"/fal-ai/nano-banana": bad})
    with pytest.raises(FalRejected):
        await client.submit(KEY, "fal-ai/nano-banana", {"prompt": "x"}, _deadline())
    await client.aclose()


@pytest.mark.parametrize("answer", snapshot("fal queue status").examples.response)
async def test_runner_reads_the_status_examples(answer: dict[str, Any]) -> None:
    submit = snapshot("fal queue submit").examples.response[0]
    client = _client({"/fal-ai/nano-banana": submit, httpx.URL(submit["status_url"]).path: answer})
    submission = await client.submit(KEY, "fal-ai/nano-banana", {"prompt": "x"}, _deadline())
    status = await client.status(KEY, submission, _deadline())
    assert status.state == answer["status"]
    assert status.queue_position == answer.get("queue_position")
    assert status.error == answer.get("error")
    await client.aclose()


async def test_runner_refuses_a_status_answer_without_status() -> None:
    submit = snapshot("fal queue submit").examples.response[0]
    bad = {"queue_position": 1, "logs": None}
    assert snapshot("fal queue status").response_errors(bad)
    client = _client({"/fal-ai/nano-banana": submit, httpx.URL(submit["status_url"]).path: bad})
    submission = await client.submit(KEY, "fal-ai/nano-banana", {"prompt": "x"}, _deadline())
    with pytest.raises(FalRejected):
        await client.status(KEY, submission, _deadline())
    await client.aclose()


def _storage_answers(token: dict[str, Any], upload: dict[str, Any]) -> dict[str, Any]:
    return {"/storage/auth/token": token, "/files/upload": upload}


async def test_runner_reads_the_storage_examples() -> None:
    token = dict(snapshot("fal storage token").examples.response[0], expires_at="2999-01-01T00:00:00+00:00")
    upload = snapshot("fal storage upload").examples.response[0]
    client = _client(_storage_answers(token, upload))
    url = await client.upload(KEY, b"\x89PNG", "image/png", "in.png", _deadline())
    assert url == upload["access_url"]
    await client.aclose()


@pytest.mark.parametrize("broken", ["token", "upload"])
async def test_runner_refuses_storage_answers_the_snapshots_refuse(broken: str) -> None:
    token = dict(snapshot("fal storage token").examples.response[0], expires_at="2999-01-01T00:00:00+00:00")
    upload = dict(snapshot("fal storage upload").examples.response[0])
    if broken == "token":
        del token["base_url"]
        assert snapshot("fal storage token").response_errors(token)
    else:
        del upload["access_url"]
        assert snapshot("fal storage upload").response_errors(upload)
    client = _client(_storage_answers(token, upload))
    with pytest.raises(FalRejected):
        await client.upload(KEY, b"\x89PNG", "image/png", "in.png", _deadline())
    await client.aclose()


ANY_LLM = re.compile(r"any[-_]llm", re.IGNORECASE)  # in code or in a comment: both went stale
ALLOWED = (
    REPO / "dev/sandbox/src/medialab_sandbox/snapshots",  # the record of its removal
    REPO / "dev/sandbox/src/medialab_sandbox/fal",  # the emulator's refusal of it
)


def test_no_production_code_names_any_llm() -> None:
    offenders = [
        str(path.relative_to(REPO))
        for root in ("services", "libs")
        for path in (REPO / root).glob("*/src/**/*")
        if path.is_file()
        and path.suffix in (".py", ".md", ".txt", ".json", ".yaml", ".toml")
        and not any(path.is_relative_to(allowed) for allowed in ALLOWED)
        and ANY_LLM.search(path.read_text(encoding="utf-8", errors="replace"))
    ]
    assert offenders == []


def test_runner_llm_bodies_match_the_router_snapshot() -> None:
    router = snapshot("openrouter/router")
    full = FalLlmRequest(
        model="google/gemini-2.5-flash", prompt="рыжая лиса", system_prompt="Translate.", temperature=0.2,
        max_tokens=5,
    )  # fmt: skip
    for request in (full, FalLlmRequest(model="google/gemini-2.5-flash", prompt="рыжая лиса")):
        assert router.request_errors(llm_arguments(request)) == []


def router_reading_problems(answer: dict[str, Any]) -> list[str]:
    """Where fal-runner's parser of the router's answer (the model FalLlm validates with) misreads
    ``answer``."""
    try:
        parsed = fal_llm.RouterOutput.model_validate(answer)
    except ValidationError as error:
        return [f"refused: {error}"]
    read = (parsed.output, parsed.usage.input_tokens, parsed.usage.output_tokens)
    usage = answer["usage"]
    expected = (answer["output"], usage["prompt_tokens"], usage["completion_tokens"])
    return [] if read == expected else [f"read {read}, the answer has {expected}"]


@pytest.mark.parametrize("answer", snapshot("openrouter/router").examples.response)
def test_runner_reads_the_router_examples(answer: dict[str, Any]) -> None:
    assert router_reading_problems(answer) == []


def test_a_renamed_field_in_the_router_parser_fails_the_conformance_check(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The guard works on the LLM parser: rename its ``output`` field and every example is reported."""
    honest = fal_llm.RouterOutput
    fields: dict[str, Any] = {
        ("text" if name == "output" else name): (info.annotation, info)
        for name, info in honest.model_fields.items()
    }
    renamed = create_model("RouterOutput", __config__=honest.model_config, **fields)
    monkeypatch.setattr(fal_llm, "RouterOutput", renamed)
    answers = snapshot("openrouter/router").examples.response
    problems = [problem for answer in answers for problem in router_reading_problems(answer)]
    assert len(problems) == len(answers)
    assert all(p.startswith("refused") and "text" in p for p in problems)


def test_runner_refuses_a_router_answer_without_output() -> None:
    router = snapshot("openrouter/router")
    answer = {k: v for k, v in router.examples.response[0].items() if k != "output"}
    assert router.response_errors(answer)
    with pytest.raises(ValidationError):
        RouterOutput.model_validate(answer)


def test_runner_reads_an_answer_without_usage_as_no_tokens() -> None:
    # The snapshot requires usage, fal's generated types make it optional: tokens are only a metric,
    # so a paid answer is never thrown away for lack of them.
    answer = {k: v for k, v in snapshot("openrouter/router").examples.response[0].items() if k != "usage"}
    assert RouterOutput.model_validate(answer).usage.input_tokens == 0
