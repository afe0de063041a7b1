"""wavespeed-runner in-process: real NATS, the WaveSpeed emulator over HTTP, the real composition root."""

from __future__ import annotations

import base64
import io
import time

import httpx
import pytest
from medialab_contracts.events import FailureReason, JobFailed, JobSucceeded
from medialab_contracts.ids import new_job_id
from medialab_runtime.output_hosts import HostAllowList
from medialab_sandbox.wavespeed import HttpFault, Target, WaveSpeedEmulator
from medialab_testkit.images import image_bytes, rotated_jpeg
from medialab_testkit.wavespeed import KEY, TARGET_SIZE, Bus, RunnerFactory, make_job
from PIL import Image
from prometheus_client import REGISTRY
from wavespeed_runner.api import OUTPUT_HOSTS, WaveSpeedClient
from wavespeed_runner.errors import WaveSpeedError
from wavespeed_runner.outputs import OutputStore


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def uploaded(emu: WaveSpeedEmulator, url: str) -> bytes:
    [record] = [r for r in emu.records.uploads if r.download_url == url]
    media = emu.media.get(record.media_id, record.filename)
    assert media is not None and media.data is not None
    return media.data


async def test_face_swap_stores_a_png_result_with_its_size(
    emu: WaveSpeedEmulator, bus: Bus, start_runner: RunnerFactory
) -> None:
    await start_runner()
    succeeded_before = sample("medialab_wavespeed_outcomes_total", outcome="succeeded")
    emu.configure(processing_seconds=0.3)
    face, target = await bus.face_and_target()
    job = make_job([face, target])
    result = await bus.run(job)
    assert isinstance(result, JobSucceeded), result
    [output] = result.outputs
    assert output.object_name == f"results/{job.job_id}/0.png" and output.content_type == "image/png"
    assert (output.width, output.height) == TARGET_SIZE
    stored = await bus.media.get(output.object_name)
    with Image.open(io.BytesIO(stored)) as image:
        assert image.format == "PNG" and image.size == TARGET_SIZE
    assert output.size_bytes == len(stored)
    # Counted from our submit's answer, a moment after WaveSpeed created the task: just under 300 ms
    # when that moment is long (a busy machine), never zero, never the whole deadline.
    assert 0 < result.provider_ms < 5000

    # The target photo is the model's `image`, the source face its `face_image`; both our uploads.
    [submit] = emu.records.submits
    assert submit.model == "wavespeed-ai/image-face-swap"
    assert set(submit.body) == {"image", "face_image", "output_format"}
    assert submit.body["output_format"] == "png"
    assert uploaded(emu, submit.body["image"]) == await bus.media.get(target.object_name)
    assert uploaded(emu, submit.body["face_image"]) == await bus.media.get(face.object_name)
    assert [(u.flow, u.completed) for u in emu.records.uploads] == [("ticket", True)] * 2
    # JobControl throttles progress to one per interval (a new stage does not pass): the first one.
    assert bus.progress(job.job_id)[0].stage == "uploading"
    assert sample("medialab_wavespeed_outcomes_total", outcome="succeeded") == succeeded_before + 1
    assert sample("medialab_wavespeed_polls_total", result="completed") >= 1


async def test_outputs_as_jpeg_url_or_base64_are_stored_as_png(emu: WaveSpeedEmulator, bus: Bus) -> None:
    """The deployed model might ignore ``output_format`` or answer in base64 (wavespeed.md §5)."""
    jpeg = image_bytes(TARGET_SIZE, fmt="JPEG")
    webp = image_bytes(TARGET_SIZE, fmt="WEBP")
    deadline = time.monotonic() + 30
    client = WaveSpeedClient(
        httpx.AsyncClient(), KEY, api_base=emu.base_url, output_hosts=HostAllowList.parse("127.0.0.1")
    )
    try:
        jpeg_url = await client.upload(jpeg, "image/jpeg", "out.jpg", deadline)
        store = OutputStore(bus.media, client)
        for reference in (
            jpeg_url,
            base64.b64encode(webp).decode(),
            "data:image/webp;base64," + base64.b64encode(webp).decode(),
        ):
            output = await store.store(new_job_id(), reference, deadline)
            png = await bus.media.get(output.object_name)
            assert png.startswith(b"\x89PNG") and (output.width, output.height) == TARGET_SIZE
        for junk in (
            "ftp://example.org/x.png",
            "data:image/png,notbase64",
            base64.b64encode(b"text").decode(),
        ):
            with pytest.raises(WaveSpeedError):
                await store.store(new_job_id(), junk, deadline)
    finally:
        await client.aclose()


async def test_a_sideways_photo_is_uploaded_upright(
    emu: WaveSpeedEmulator, bus: Bus, start_runner: RunnerFactory
) -> None:
    await start_runner()
    face, _ = await bus.face_and_target()
    sideways = await bus.put_input("in/sideways.jpg", rotated_jpeg((120, 80)))
    result = await bus.run(make_job([face, sideways]))
    assert isinstance(result, JobSucceeded), result
    [submit] = emu.records.submits
    with Image.open(io.BytesIO(uploaded(emu, submit.body["image"]))) as sent:
        assert sent.size == (80, 120) and sent.getexif().get(0x0112, 1) == 1
    assert (result.outputs[0].width, result.outputs[0].height) == (80, 120)


async def test_bad_inputs_fail_with_reason_codes_and_never_reach_a_task(
    emu: WaveSpeedEmulator, bus: Bus, start_runner: RunnerFactory
) -> None:
    await start_runner()
    face, target = await bus.face_and_target()
    text = await bus.put_input("in/notes.jpg", b"a shopping list, not a photo\n" * 20)
    corrupt = await bus.put_input("in/cut.png", image_bytes((300, 300))[:200])
    missing = target.model_copy(update={"object_name": "in/nowhere.png"})
    cases = [
        (make_job([face, text]), FailureReason.not_an_image),
        (make_job([corrupt, target]), FailureReason.bad_image),
        (make_job([face, missing]), FailureReason.input_gone),
        (make_job([face]), FailureReason.bad_input),
        (make_job([face, target], mode="edit"), FailureReason.bad_input),
    ]
    for job, reason in cases:
        result = await bus.run(job)
        assert isinstance(result, JobFailed) and result.reason == reason, (reason, result)
    assert emu.records.submits == []


async def test_ticket_upload_falls_back_to_the_legacy_binary_upload(
    emu: WaveSpeedEmulator, bus: Bus, start_runner: RunnerFactory
) -> None:
    await start_runner()
    # A signed URL that refuses the PUT: that upload goes the binary way, the job still succeeds.
    emu.faults.inject(Target.STORAGE_PUT, HttpFault(status=403), count=1)
    result = await bus.run(make_job(await bus.face_and_target("a")))
    assert isinstance(result, JobSucceeded), result
    assert sorted(u.flow for u in emu.records.uploads if u.completed) == ["binary", "ticket"]

    # An API without the ticket endpoint: the binary upload from then on.
    await emu.reset()
    emu.faults.inject(Target.UPLOAD, HttpFault(status=404), count=1)
    result = await bus.run(make_job(await bus.face_and_target("b")))
    assert isinstance(result, JobSucceeded), result
    assert "binary" in [u.flow for u in emu.records.uploads]
    await emu.reset()
    result = await bus.run(make_job(await bus.face_and_target("c")))
    assert isinstance(result, JobSucceeded), result
    assert [u.flow for u in emu.records.uploads] == ["binary", "binary"]
    [submit] = emu.records.submits
    assert {submit.body["image"], submit.body["face_image"]} == {u.download_url for u in emu.records.uploads}


async def test_an_output_off_the_wavespeed_hosts_fails_the_job_unfetched(
    emu: WaveSpeedEmulator, bus: Bus, start_runner: RunnerFactory
) -> None:
    """With production's allow-list, the emulator's loopback output URL is a foreign host."""
    await start_runner(wavespeed_output_hosts=OUTPUT_HOSTS)
    face, target = await bus.face_and_target()
    job = make_job([face, target])
    result = await bus.run(job)
    assert isinstance(result, JobFailed) and result.reason == FailureReason.provider_error, result
    assert len(emu.records.submits) == 1
    assert emu.records.downloads == []
    assert not await bus.media.exists(f"results/{job.job_id}/0.png")
