"""Where a runner may fetch a provider's outputs from: the provider's own CDN hosts, nothing else.

A result URL comes from the provider's answer; fetching any URL it names would let a compromised
or confused answer point the runner at internal addresses (cloud metadata, the NATS monitor) or at
someone else's file that then reaches a user as a result. The list is a setting per provider so
the sandbox emulators' loopback host can be allowed in dev and tests.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit


@dataclass(frozen=True)
class HostAllowList:
    """Exact hosts (``fal.media``) and subdomain wildcards (``*.fal.media``, not the apex itself)."""

    exact: frozenset[str]
    suffixes: tuple[str, ...]

    @classmethod
    def parse(cls, text: str) -> HostAllowList:
        """A comma list, as the settings carry it; blanks are ignored, case does not matter."""
        patterns = [item.strip().lower() for item in text.split(",") if item.strip()]
        exact = frozenset(p for p in patterns if not p.startswith("*."))
        suffixes = tuple(p[1:] for p in patterns if p.startswith("*."))
        return cls(exact, suffixes)

    def allows(self, url: str) -> bool:
        """An ``http(s)`` URL whose host (port ignored) is on the list."""
        try:
            parts = urlsplit(url)
            host = (parts.hostname or "").lower()
        except ValueError:
            return False
        if parts.scheme not in ("https", "http") or not host:
            return False
        return host in self.exact or any(host.endswith(suffix) for suffix in self.suffixes)

    def describe(self, url: str) -> str:
        """The refused URL's host, for a failure detail: never the path (it may carry a token)."""
        try:
            return urlsplit(url).hostname or "?"
        except ValueError:
            return "?"
