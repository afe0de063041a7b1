"""fal emulator: REST storage tokens, CDN uploads (both flows) and inputs read back from them."""

from __future__ import annotations

import io
import os

import httpx
import pytest
from medialab_sandbox.fal import FalEmulator
from medialab_sandbox.fal.testing import key_header, run_request
from PIL import Image

KEY = "key-id:key-secret"
AUTH = key_header(KEY)

pytestmark = pytest.mark.asyncio(loop_scope="module")


def png_bytes() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (48, 36), (1, 2, 3)).save(buffer, format="PNG")
    return buffer.getvalue()


async def upload_with_token(fal: FalEmulator, http: httpx.AsyncClient, data: bytes, content_type: str) -> str:
    token = await http.post(
        f"{fal.rest_base}/storage/auth/token",
        params={"storage_type": "fal-cdn-v3"},
        json={},
        headers=AUTH,
    )
    assert token.status_code == 200
    grant = token.json()
    upload = await http.post(
        f"{grant['base_url']}/files/upload",
        content=data,
        headers={
            "Content-Type": content_type,
            "X-Fal-File-Name": "input.png",
            "Authorization": f"{grant['token_type']} {grant['token']}",
        },
    )
    assert upload.status_code == 200
    return str(upload.json()["access_url"])


async def test_token_response_shape(falemu: FalEmulator, falemu_http: httpx.AsyncClient) -> None:
    response = await falemu_http.post(
        f"{falemu.rest_base}/storage/auth/token",
        params={"storage_type": "fal-cdn-v3"},
        json={},
        headers=AUTH,
    )

    grant = response.json()
    assert set(grant) == {"token", "token_type", "base_url", "expires_at"}
    assert grant["base_url"] == falemu.cdn_base
    assert grant["expires_at"].endswith("+00:00")


async def test_token_upload_round_trip_byte_for_byte(
    falemu: FalEmulator, falemu_http: httpx.AsyncClient
) -> None:
    data = os.urandom(50_000)

    access_url = await upload_with_token(falemu, falemu_http, data, "application/x-test")
    downloaded = await falemu_http.get(access_url)

    assert access_url.startswith(f"{falemu.cdn_base}/files/")
    assert access_url.endswith("/input.png")
    assert downloaded.content == data
    assert downloaded.headers["content-type"] == "application/x-test"


async def test_initiate_and_put_round_trip(falemu: FalEmulator, falemu_http: httpx.AsyncClient) -> None:
    data = os.urandom(10_000)
    initiate = await falemu_http.post(
        f"{falemu.rest_base}/storage/upload/initiate",
        params={"storage_type": "gcs"},
        json={"file_name": "photo.jpg", "content_type": "image/jpeg"},
        headers=AUTH,
    )
    urls = initiate.json()

    before = await falemu_http.get(urls["file_url"])
    put = await falemu_http.put(urls["upload_url"], content=data, headers={"Content-Type": "image/jpeg"})
    after = await falemu_http.get(urls["file_url"])
    replay = await falemu_http.put(urls["upload_url"], content=b"x")

    assert set(urls) == {"upload_url", "file_url"}
    assert before.status_code == 404
    assert put.status_code == 200
    assert after.content == data
    assert after.headers["content-type"] == "image/jpeg"
    assert replay.status_code == 404


async def test_storage_calls_need_a_valid_key(falemu: FalEmulator, falemu_http: httpx.AsyncClient) -> None:
    wrong = key_header("someone:else")

    token = await falemu_http.post(f"{falemu.rest_base}/storage/auth/token", json={}, headers=wrong)
    initiate = await falemu_http.post(f"{falemu.rest_base}/storage/upload/initiate", json={}, headers=wrong)

    assert token.status_code == initiate.status_code == 401
    assert token.json() == {"detail": "No user found for Key ID and Secret"}


@pytest.mark.parametrize("authorization", ["Bearer not-a-token", f"Key {KEY}", ""])
async def test_cdn_upload_needs_a_storage_token(
    falemu: FalEmulator, falemu_http: httpx.AsyncClient, authorization: str
) -> None:
    response = await falemu_http.post(
        f"{falemu.cdn_base}/files/upload",
        content=b"abc",
        headers={"Content-Type": "image/png", "Authorization": authorization},
    )

    assert response.status_code == 401
    assert falemu.storage.files == {}


async def test_unknown_file_is_404(falemu: FalEmulator, falemu_http: httpx.AsyncClient) -> None:
    response = await falemu_http.get(f"{falemu.cdn_base}/files/deadbeef/x.png")

    assert response.status_code == 404


async def test_uploaded_input_reaches_the_model_byte_identical(
    falemu: FalEmulator, falemu_http: httpx.AsyncClient
) -> None:
    data = png_bytes()
    access_url = await upload_with_token(falemu, falemu_http, data, "image/png")

    result = await run_request(
        falemu_http, falemu.queue_base, "fal-ai/recraft/upscale/crisp", {"image_url": access_url}, KEY
    )

    assert result.status_code == 200
    [record] = falemu.submits(model="fal-ai/recraft/upscale/crisp")
    assert record.body["image_url"] == access_url
    assert falemu.file_bytes(record.body["image_url"]) == data
    output = await falemu_http.get(result.json()["image"]["url"])
    assert Image.open(io.BytesIO(output.content)).size == (96, 72)
