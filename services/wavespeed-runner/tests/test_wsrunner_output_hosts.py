"""Outputs come only from WaveSpeed's hosts, redirect hops included.

WaveSpeed may redirect an output to its CDN, so the runner follows redirects; each hop is checked
before it is sent. No emulator knob answers with a redirect: the hosts are served here at the wire.
"""

from __future__ import annotations

import time

import httpx
import pytest
from medialab_contracts.events import FailureReason
from wavespeed_runner.api import WaveSpeedClient
from wavespeed_runner.errors import WaveSpeedRejected

CDN = "https://d1q70pf5vjeyhc.cloudfront.net/predictions/t1/1.png"
PNG = b"\x89PNG\r\n\x1a\n-output"


def redirecting_client(target: str, fetched: list[str]) -> WaveSpeedClient:
    """``static.wavespeed.ai`` redirects to ``target``; every other host answers with the bytes."""

    def serve(request: httpx.Request) -> httpx.Response:
        fetched.append(str(request.url))
        if request.url.host == "static.wavespeed.ai":
            return httpx.Response(302, headers={"Location": target})
        return httpx.Response(200, content=PNG)

    http = httpx.AsyncClient(transport=httpx.MockTransport(serve), follow_redirects=True)
    return WaveSpeedClient(http, "key", api_base="https://api.wavespeed.ai")


async def test_a_redirect_to_the_cdn_is_followed() -> None:
    fetched: list[str] = []
    client = redirecting_client(CDN, fetched)
    try:
        assert await client.download("https://static.wavespeed.ai/o/1.png", time.monotonic() + 5) == PNG
    finally:
        await client.aclose()
    assert fetched == ["https://static.wavespeed.ai/o/1.png", CDN]


@pytest.mark.parametrize(
    "target", ["http://169.254.169.254/latest/meta-data/", "https://d2other.cloudfront.net/x.png"]
)
async def test_a_redirect_off_the_hosts_fails_before_the_hop_is_sent(target: str) -> None:
    fetched: list[str] = []
    client = redirecting_client(target, fetched)
    try:
        with pytest.raises(WaveSpeedRejected) as refused:
            await client.download("https://static.wavespeed.ai/o/1.png", time.monotonic() + 5)
        assert refused.value.reason == FailureReason.provider_error
        # The foreign hop was never sent.
        assert fetched == ["https://static.wavespeed.ai/o/1.png"]
    finally:
        await client.aclose()
