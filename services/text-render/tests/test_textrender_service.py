"""text-render on a real NATS: a job in ``jobs.text.text`` → a PNG in ``media`` and one final event."""

import asyncio
import contextlib
import io
from collections.abc import AsyncIterator, Awaitable, Callable

import nats
import pytest
from medialab_contracts import subjects
from medialab_contracts.events import FailureReason, JobFailed, JobSucceeded, parse_job_event
from medialab_contracts.jobs import JobRequest
from medialab_contracts.llm import ParseStyleReply, ParseStyleRequest
from medialab_contracts.media import MediaRef, upload_name
from medialab_contracts.modes import Mode, Runner
from medialab_devstack.in_process import InProcessServices
from medialab_devstack.nats_server import service_settings
from medialab_runtime.media_store import MediaStore
from medialab_runtime.provisioning import ensure_layout
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from PIL import Image, ImageChops
from text_render.app import setup
from text_render.settings import TextRenderSettings

W, H = 320, 240


@pytest.fixture
async def bus(nats_url: str) -> AsyncIterator[tuple[Client, JetStreamContext]]:
    nc = await nats.connect(nats_url)
    js = nc.jetstream()
    await ensure_layout(js)
    yield nc, js
    await nc.close()


@contextlib.asynccontextmanager
async def text_render(nc: Client, js: JetStreamContext, **overrides: object) -> AsyncIterator[None]:
    """text-render as its process runs it (``setup`` under ``run_service``), on the test's nats-server."""
    url = nc.connected_url.geturl() if nc.connected_url else ""
    values: dict[str, object] = {
        **service_settings(url, "text-render"),
        "http_port": 0,
        "log_format": "text",
        "ack_wait_s": 5,
    }
    settings = TextRenderSettings(_env_file=None, **{**values, **overrides})  # type: ignore[arg-type]
    async with InProcessServices(js) as services:
        await services.start_consumer("text-render", settings, setup, subjects.TEXT_RENDER_CONSUMER)
        yield


@contextlib.asynccontextmanager
async def fake_prompt_llm(
    nc: Client, answer: Callable[[ParseStyleRequest], Awaitable[ParseStyleReply]]
) -> AsyncIterator[list[str]]:
    """Answers ``llm.parse_style`` like prompt-llm would; yields the wishes it was asked."""
    asked: list[str] = []

    async def respond(msg: Msg) -> None:
        request = ParseStyleRequest.model_validate_json(msg.data)
        asked.append(request.wish)
        reply = await answer(request)
        await msg.respond(reply.model_dump_json().encode())

    sub = await nc.subscribe(subjects.LLM_PARSE_STYLE, cb=respond)
    try:
        yield asked
    finally:
        await sub.unsubscribe()


async def submit(
    js: JetStreamContext,
    picture: bytes | None,
    text: str,
    wish: str | None,
    name: str = "inputs/test/picture.png",
) -> JobRequest:
    """Stores ``picture`` as ``name`` and publishes a job on it; with None, the job names a missing object."""
    if picture is None:
        ref = MediaRef(object_name=name, content_type="image/png")
    else:
        ref = await (await MediaStore.open(js)).put(name, picture, "image/png")
    job = JobRequest(
        user_id=1,
        chat_id=1,
        mode=Mode.text,
        runner=Runner.text,
        model_key="text",
        model_id="local/text-render",
        price=100,
        inputs=[ref],
        overlay_text=text,
        style_wish=wish,
    )
    await js.publish(job.subject, job.model_dump_json().encode(), headers={"Nats-Msg-Id": job.job_id})
    return job


async def final_event(js: JetStreamContext, job_id: str) -> JobSucceeded | JobFailed:
    sub = await js.subscribe(f"events.job.{job_id}.*", ordered_consumer=True)
    try:
        while True:
            event = parse_job_event((await sub.next_msg(timeout=10)).data)
            if isinstance(event, JobSucceeded | JobFailed):
                return event
    finally:
        await sub.unsubscribe()


def white_png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (W, H), (255, 255, 255)).save(buffer, "PNG")
    return buffer.getvalue()


async def result_image(js: JetStreamContext, event: JobSucceeded) -> Image.Image:
    (output,) = event.outputs
    image = Image.open(io.BytesIO(await (await MediaStore.open(js)).get(output.object_name)))
    image.load()
    assert (image.format, image.size, (output.width, output.height)) == ("PNG", (W, H), (W, H))
    return image.convert("RGB")


def has_colour(image: Image.Image, rgb: tuple[int, int, int]) -> bool:
    data = image.tobytes()
    return any(data[i : i + 3] == bytes(rgb) for i in range(0, len(data), 3))


async def test_job_renders_with_the_llm_style_over_the_rules(bus) -> None:
    nc, js = bus

    async def red_text(request: ParseStyleRequest) -> ParseStyleReply:
        return ParseStyleReply(trace_id=request.trace_id, style={"color": "#FF0000"})

    async with fake_prompt_llm(nc, red_text) as asked, text_render(nc, js):
        job = await submit(js, white_png(), "Привет 🎉", "Крупный текст сверху, как кровь")
        event = await final_event(js, job.job_id)
    assert isinstance(event, JobSucceeded), event
    assert asked == ["Крупный текст сверху, как кровь"]
    image = await result_image(js, event)
    assert has_colour(image, (255, 0, 0))  # the LLM's colour
    drawn = ImageChops.difference(image, Image.new("RGB", image.size, (255, 255, 255))).getbbox()
    assert drawn is not None and drawn[3] < H / 2  # the rules' «сверху» kept


async def test_slow_llm_falls_back_to_the_rules(bus) -> None:
    nc, js = bus

    async def too_slow(request: ParseStyleRequest) -> ParseStyleReply:
        await asyncio.sleep(2)
        return ParseStyleReply(trace_id=request.trace_id, style={"color": "#00ff00"})

    async with fake_prompt_llm(nc, too_slow), text_render(nc, js, style_llm_timeout_s=0.2):
        job = await submit(js, white_png(), "Текст", "синий текст")
        event = await final_event(js, job.job_id)
    assert isinstance(event, JobSucceeded), event
    image = await result_image(js, event)
    assert has_colour(image, (0, 0, 255))
    assert not has_colour(image, (0, 255, 0))


async def test_without_prompt_llm_and_skip_wish_the_defaults_apply(bus) -> None:
    nc, js = bus
    async with text_render(nc, js):
        job = await submit(js, white_png(), "Текст", "/skip")
        event = await final_event(js, job.job_id)
    assert isinstance(event, JobSucceeded), event
    assert has_colour(await result_image(js, event), (0, 0, 0))  # black reads best on white


async def test_bad_picture_fails_with_a_reason_the_gateway_can_word(bus) -> None:
    nc, js = bus
    async with text_render(nc, js, style_llm_enabled=False):
        job = await submit(js, b"GIF89a but not really", "Текст", None)
        event = await final_event(js, job.job_id)
        # The event goes out before the ack: wait for the work queue to let the job go.
        for _ in range(100):
            if (await js.stream_info(subjects.JOBS_STREAM)).state.messages == 0:
                break
            await asyncio.sleep(0.02)
    assert isinstance(event, JobFailed)
    assert event.reason is FailureReason.not_an_image
    assert (await js.stream_info(subjects.JOBS_STREAM)).state.messages == 0  # acked, not retried


async def test_another_users_upload_is_refused_unread(bus) -> None:
    nc, js = bus
    async with text_render(nc, js, style_llm_enabled=False):
        job = await submit(js, white_png(), "Текст", None, name=upload_name(2))  # the job is user 1's
        event = await final_event(js, job.job_id)
    assert isinstance(event, JobFailed)
    assert event.reason is FailureReason.foreign_input and "not an upload of user 1" in event.detail


async def test_a_picture_gone_from_the_store_fails_as_input_gone(bus) -> None:
    nc, js = bus
    async with text_render(nc, js, style_llm_enabled=False):
        # Never stored, as if it expired before the job was read: the user is asked to send it again.
        job = await submit(js, None, "Текст", None, name="inputs/test/expired.png")
        event = await final_event(js, job.job_id)
    assert isinstance(event, JobFailed), event
    assert event.reason is FailureReason.input_gone and "inputs/test/expired.png" in event.detail


@pytest.mark.parametrize(
    ("words", "why"),
    [
        ("слово " * 200, "characters > 1000"),  # over the limit of characters
        ("Длинное-предлинное-слово " * 30, "does not fit"),  # within it, but too much for this picture
    ],
)
async def test_text_too_long_to_draw_fails_as_text_too_long(bus, words: str, why: str) -> None:
    nc, js = bus
    async with text_render(nc, js, style_llm_enabled=False):
        job = await submit(js, white_png(), words, None)
        event = await final_event(js, job.job_id)
    assert isinstance(event, JobFailed), event
    assert event.reason is FailureReason.text_too_long and why in event.detail, event.detail
