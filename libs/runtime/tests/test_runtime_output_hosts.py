"""The output-host allow-list: exact hosts, subdomain wildcards, and the lookalikes they must refuse."""

from __future__ import annotations

import pytest
from medialab_runtime.output_hosts import HostAllowList

FAL = HostAllowList.parse(" fal.media, *.FAL.media ,")


@pytest.mark.parametrize(
    "url",
    ["https://v3.fal.media/files/a/b.png", "https://fal.media/files/x", "https://V3B.fal.media:443/x"],
)
def test_the_providers_hosts_pass(url: str) -> None:
    assert FAL.allows(url)


@pytest.mark.parametrize(
    "url",
    [
        "https://evilfal.media/x.png",
        "https://fal.media.evil.com/x.png",
        "https://169.254.169.254/latest/meta-data/",
        "https://user@evil.com/fal.media",
        "ftp://v3.fal.media/x",
        "file:///etc/passwd",
        "https://[::1/x",
        "not a url",
    ],
)
def test_lookalikes_other_hosts_and_schemes_are_refused(url: str) -> None:
    assert not FAL.allows(url)


def test_the_detail_names_the_host_and_never_the_path() -> None:
    assert FAL.describe("https://evil.com/secret-token?sig=1") == "evil.com"
