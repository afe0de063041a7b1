"""``python3 dev.py smoke``: one cheapest call to each real provider endpoint, checked against its snapshot.

The step before every release (README, docs/DEPLOY.md): the conformance tests prove our code and
emulators agree with the recorded snapshots; this proves the snapshots still agree with the real
services. Calls, in order: Telegram ``getMe``; fal storage token and upload of a 64×64 PNG; one
``fal-ai/recraft/upscale/crisp`` run of it (about $0.004); the LLM on ``openrouter/router`` with a
5-token answer; WaveSpeed ``GET /api/v3/balance`` (free). Each answer is checked against the
snapshot of its endpoint and a table is printed.

Keys come from the environment or ./.env (the environment wins): ``TG_BOT_TOKEN``, ``FAL_KEYS`` (or
``FAL_KEY``), ``WAVESPEED_API_KEY``. Base URLs are the services' own settings
(``TELEGRAM_API_BASE``, ``FAL_QUEUE_BASE``, ``FAL_REST_BASE``, ``WAVESPEED_API_BASE``) or
``--base-urls telegram=…,fal-queue=…,fal-rest=…,wavespeed=…``, so a test can aim it at the
emulators. Exit status: 0 all checks passed, 1 a check failed, 2 keys missing.
Keys never appear in the output: Telegram's is part of its URLs, so no URL is printed.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from dotenv import dotenv_values
from medialab_contracts.catalog import LLM_ENDPOINT, LLM_MODEL_DEFAULT
from medialab_runtime.provider_keys import KeySpecError, parse_accounts
from medialab_sandbox.snapshots import Snapshot, snapshot
from PIL import Image

DEFAULT_BASES = {
    "telegram": "https://api.telegram.org",
    "fal-queue": "https://queue.fal.run",
    "fal-rest": "https://rest.fal.ai",
    "wavespeed": "https://api.wavespeed.ai",
}
BASE_ENV = {
    "telegram": "TELEGRAM_API_BASE",
    "fal-queue": "FAL_QUEUE_BASE",
    "fal-rest": "FAL_REST_BASE",
    "wavespeed": "WAVESPEED_API_BASE",
}
UPSCALE = "fal-ai/recraft/upscale/crisp"
# The uploaded probe image is public on fal's CDN until it expires: keep that short.
LIFECYCLE = {"X-Fal-Object-Lifecycle-Preference": json.dumps({"expiration_duration_seconds": 3600})}
POLL_INTERVAL_S = 0.5


@dataclass
class Row:
    endpoint: str
    status: int | None
    latency_ms: float
    checked: str
    problems: list[str]

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass(frozen=True)
class Keys:
    telegram: str
    fal: str
    wavespeed: str


class Failed(Exception):
    """A probe could not go on; its row says why."""


class Smoke:
    def __init__(
        self, http: httpx.Client, keys: Keys, bases: Mapping[str, str], llm_model: str, timeout: float
    ):
        self.http = http
        self.keys = keys
        self.bases = {name: url.rstrip("/") for name, url in bases.items()}
        self.llm_model = llm_model
        self.timeout = timeout
        self.rows: list[Row] = []

    # ----- one call, one row ---------------------------------------------------------------------

    def call(
        self,
        label: str,
        method: str,
        url: str,
        snap: Snapshot,
        *,
        check: Callable[[Any], list[str]] | None = None,
        expect: tuple[int, ...] = (200,),
        **kwargs: Any,
    ) -> Any:
        """One request; its answer checked against ``snap`` (or ``check``); a row either way."""
        started = time.perf_counter()
        try:
            response = self.http.request(method, url, **kwargs)
        except httpx.HTTPError as error:
            # The exception text may hold the URL, and Telegram's URL holds the token.
            self._row(label, None, started, snap, [f"no answer: {type(error).__name__}"])
            raise Failed(label) from None
        try:
            body = response.json()
        except ValueError:
            body = None
        problems = [] if response.status_code in expect else [f"HTTP {response.status_code}: {_gist(body)}"]
        if not problems:
            problems = (check or snap.response_errors)(body)
        self._row(label, response.status_code, started, snap, problems)
        if problems:
            raise Failed(label)
        return body

    def _row(
        self, label: str, status: int | None, started: float, snap: Snapshot, problems: list[str]
    ) -> None:
        what = f"{snap.endpoint} snapshot (checked {snap.checked.isoformat()})"
        self.rows.append(Row(label, status, (time.perf_counter() - started) * 1000, what, problems))

    # ----- the probes --------------------------------------------------------------------------------

    def telegram(self) -> None:
        url = f"{self.bases['telegram']}/bot{self.keys.telegram}/getMe"
        self.call("telegram getMe", "GET", url, snapshot("getMe"))

    def fal_storage_and_model(self) -> None:
        auth = {"Authorization": f"Key {self.keys.fal}"}
        grant = self.call(
            "fal storage token",
            "POST",
            f"{self.bases['fal-rest']}/storage/auth/token",
            snapshot("fal storage token"),
            params={"storage_type": "fal-cdn-v3"},
            json={},
            headers=auth,
        )
        uploaded = self.call(
            "fal storage upload",
            "POST",
            f"{str(grant['base_url']).rstrip('/')}/files/upload",
            snapshot("fal storage upload"),
            content=_probe_png(),
            headers={
                "Content-Type": "image/png",
                "X-Fal-File-Name": "smoke.png",
                "Authorization": f"{grant['token_type']} {grant['token']}",
                **LIFECYCLE,
            },
        )
        self.fal_run(UPSCALE, {"image_url": uploaded["access_url"]}, auth)

    def llm(self) -> None:
        body = {"prompt": "Answer with the single word OK.", "model": self.llm_model, "max_tokens": 5}
        auth = {"Authorization": f"Key {self.keys.fal}"}
        self.fal_run(LLM_ENDPOINT, body, auth)

    def fal_run(self, model_id: str, body: dict[str, Any], auth: dict[str, str]) -> None:
        model = snapshot(model_id)
        request_problems = model.request_errors(body)
        if request_problems:  # our own probe is wrong: say so rather than pay for a refusal
            self.rows.append(Row(f"fal {model_id}", None, 0.0, "request vs snapshot", request_problems))
            raise Failed(model_id)
        submitted = self.call(
            f"fal submit {model_id}",
            "POST",
            f"{self.bases['fal-queue']}/{model_id}",
            snapshot("fal queue submit"),
            json=body,
            headers={**auth, **LIFECYCLE, "X-Fal-Request-Timeout": str(int(self.timeout))},
        )
        status_url, response_url = submitted["status_url"], submitted["response_url"]
        deadline = time.monotonic() + self.timeout
        while True:
            status = self.call(
                f"fal status {model_id}",
                "GET",
                status_url,
                snapshot("fal queue status"),
                expect=(200, 202),
                headers=auth,
            )
            if status.get("status") == "COMPLETED":
                break
            self.rows.pop()  # only the last poll is reported
            if time.monotonic() > deadline:
                self.rows.append(
                    Row(f"fal {model_id}", None, 0.0, "completion", [f"not done in {self.timeout}s"])
                )
                raise Failed(model_id)
            time.sleep(POLL_INTERVAL_S)
        self.call(f"fal result {model_id}", "GET", response_url, model, headers=auth)

    def wavespeed(self) -> None:
        url = f"{self.bases['wavespeed']}/api/v3/balance"
        headers = {"Authorization": f"Bearer {self.keys.wavespeed}"}
        self.call("wavespeed balance", "GET", url, snapshot("wavespeed balance"), headers=headers)

    def run(self) -> bool:
        for probe in (self.telegram, self.fal_storage_and_model, self.llm, self.wavespeed):
            try:
                probe()
            except Failed:
                continue  # its row says why; the other providers are still worth checking
        return all(row.ok for row in self.rows)


def _gist(body: Any) -> str:
    """A short, key-free summary of an error answer."""
    if isinstance(body, dict):
        for name in ("detail", "description", "message", "error"):
            if name in body:
                return str(body[name])[:200]
    return "no JSON body" if body is None else str(body)[:200]


def _probe_png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 64), (40, 120, 200)).save(out, "PNG")
    return out.getvalue()


def render(rows: list[Row]) -> str:
    header = ("endpoint", "HTTP", "latency", "checked against", "result")
    lines = [
        (
            row.endpoint,
            "-" if row.status is None else str(row.status),
            f"{row.latency_ms:.0f} ms",
            row.checked,
            "ok" if row.ok else "FAILED: " + "; ".join(row.problems)[:300],
        )
        for row in rows
    ]
    widths = [max(len(cells[i]) for cells in [header, *lines]) for i in range(len(header) - 1)]
    out = []
    for cells in [header, *lines]:
        out.append(
            "  ".join(cell.ljust(width) for cell, width in zip(cells, widths, strict=False))
            + "  "
            + cells[-1]
        )
    return "\n".join(out)


def _settings(env: Mapping[str, str | None]) -> tuple[Keys | None, list[str]]:
    missing: list[str] = []
    telegram = (env.get("TG_BOT_TOKEN") or "").strip()
    if not telegram:
        missing.append("TG_BOT_TOKEN")
    fal = ""
    try:
        accounts = parse_accounts(env.get("FAL_KEYS") or env.get("FAL_KEY") or "", 1)
        fal = accounts[0].keys[0].secret.get_secret_value() if accounts else ""
    except KeySpecError as error:
        missing.append(f"FAL_KEYS (malformed: {error})")
    else:
        if not fal:
            missing.append("FAL_KEYS (or FAL_KEY)")
    wavespeed = (env.get("WAVESPEED_API_KEY") or "").strip()
    if not wavespeed:
        missing.append("WAVESPEED_API_KEY")
    return (None if missing else Keys(telegram, fal, wavespeed)), missing


def _bases(env: Mapping[str, str | None], flag: str | None) -> dict[str, str]:
    bases = {name: env.get(BASE_ENV[name]) or url for name, url in DEFAULT_BASES.items()}
    for pair in filter(None, (flag or "").split(",")):
        name, _, url = pair.partition("=")
        if name.strip() not in bases or not url.strip():
            raise SystemExit(f"--base-urls: expected name=url with name in {sorted(bases)}, got {pair!r}")
        bases[name.strip()] = url.strip()
    return bases


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="dev.py smoke", description=__doc__.split("\n\n")[0])
    parser.add_argument("--base-urls", help="telegram=URL,fal-queue=URL,fal-rest=URL,wavespeed=URL")
    parser.add_argument("--env-file", default=".env", type=Path, help="read keys from this file too")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds a fal run may take")
    args = parser.parse_args(argv)

    env: dict[str, str | None] = {}
    if args.env_file.is_file():
        env.update(dotenv_values(args.env_file))
    env.update(os.environ)
    keys, missing = _settings(env)
    if keys is None:
        print("dev.py smoke needs real keys; missing: " + ", ".join(missing), file=sys.stderr)
        print("Set them in the environment or in .env (see .env.example).", file=sys.stderr)
        return 2
    llm_model = (env.get("LLM_MODEL") or LLM_MODEL_DEFAULT).strip()
    with httpx.Client(timeout=30.0, follow_redirects=False) as http:
        smoke = Smoke(http, keys, _bases(env, args.base_urls), llm_model, args.timeout)
        passed = smoke.run()
    print(render(smoke.rows))
    print("all answers match their snapshots" if passed else "some answers do not match: see FAILED rows")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
