"""Schema snapshots of every outside endpoint MediaLab calls (fal, WaveSpeed, Telegram, YooKassa).

Each JSON file here records one endpoint as its provider documents it: request and response as
JSON Schema, where the truth was read (``source``) and when (``checked``), notes where our
earlier research (../shared/providers) disagreed, and example bodies. The conformance tests
(tests/conformance) hold the catalog, the runners' parsers and the emulators to these files, and
``dev.py smoke`` checks the real services' answers against them. docs/providers/README.md says how
to refresh them.
"""

from __future__ import annotations

import copy
import functools
from datetime import date
from pathlib import Path
from typing import Any, Literal

from jsonschema import Draft202012Validator, FormatChecker
from pydantic import BaseModel, ConfigDict, Field

ROOT = Path(__file__).resolve().parent

Provider = Literal["fal", "wavespeed", "telegram", "yookassa"]
Kind = Literal["model", "api", "method", "removed"]


class Examples(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    request: list[dict[str, Any]] = Field(default_factory=list)
    response: list[Any] = Field(default_factory=list)


class Snapshot(BaseModel):
    """One endpoint's recorded contract."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    endpoint: str
    provider: Provider
    kind: Kind
    method: Literal["GET", "POST", "PUT"]
    url: str
    source: str = Field(pattern=r"^https://")
    checked: date
    notes: list[str] = Field(default_factory=list)
    request: dict[str, Any] | None
    response: dict[str, Any]
    error: dict[str, Any] | None = None
    examples: Examples
    removed: bool = False
    successor: str | None = None
    refusal_status: list[int] = Field(default_factory=list)

    def request_errors(self, body: Any) -> list[str]:
        """Why ``body`` is not a request this endpoint accepts (empty: it is)."""
        if self.request is None:
            raise ValueError(f"{self.endpoint}: the snapshot has no JSON request schema")
        return _errors(self.request, body)

    def response_errors(self, body: Any) -> list[str]:
        """Why ``body`` is not an answer this endpoint gives on success (empty: it is)."""
        return _errors(self.response, body)

    def error_errors(self, body: Any) -> list[str]:
        """Why ``body`` is not this endpoint's error answer (empty: it is)."""
        if self.error is None:
            raise ValueError(f"{self.endpoint}: the snapshot has no error schema")
        return _errors(self.error, body)


def _errors(schema: dict[str, Any], body: Any) -> list[str]:
    validator = Draft202012Validator(schema, format_checker=FormatChecker())
    return [
        f"{'/'.join(str(p) for p in error.absolute_path) or '<body>'}: {error.message}"
        for error in sorted(validator.iter_errors(body), key=lambda e: list(e.absolute_path))
    ]


@functools.cache
def all_snapshots() -> dict[str, Snapshot]:
    """Every snapshot by its ``endpoint`` (a model id, a Telegram method, or an API's name)."""
    snapshots: dict[str, Snapshot] = {}
    for path in sorted(ROOT.glob("*/*.json")):
        snapshot = Snapshot.model_validate_json(path.read_text(encoding="utf-8"))
        Draft202012Validator.check_schema(snapshot.response)
        if snapshot.request is not None:
            Draft202012Validator.check_schema(snapshot.request)
        if snapshot.endpoint in snapshots:
            raise ValueError(f"two snapshots for {snapshot.endpoint!r}")
        snapshots[snapshot.endpoint] = snapshot
    return snapshots


def snapshot(endpoint: str) -> Snapshot:
    return all_snapshots()[endpoint]


def of_provider(provider: Provider, kind: Kind | None = None) -> list[Snapshot]:
    return [
        s for s in all_snapshots().values() if s.provider == provider and (kind is None or s.kind == kind)
    ]


_WRONG_TYPE: dict[str, Any] = {
    "string": 12345,
    "integer": "not-a-number",
    "number": "not-a-number",
    "boolean": "not-a-bool",
    "array": "not-a-list",
    "object": "not-an-object",
}


def invalid_requests(
    snap: Snapshot, example: dict[str, Any], *, missing_only: bool = False
) -> list[tuple[str, dict[str, Any]]]:
    """Bodies the snapshot refuses, each ``example`` with one thing broken, named by what broke.

    Only faults every provider refuses are made (a missing required field, one of a set of fields
    an ``anyOf`` requires, a value outside an enum or range, a wrong type); unknown fields are not,
    as fal and Telegram ignore those.
    ``missing_only``: just the missing fields, for Telegram, which turns numbers into text and
    clamps ranges rather than refusing them.
    """
    schema = snap.request
    if schema is None:
        return []
    properties: dict[str, Any] = schema.get("properties", {})
    variants: list[tuple[str, dict[str, Any]]] = []
    alternatives = [name for option in schema.get("anyOf", []) for name in option.get("required", [])]
    for name in dict.fromkeys([*schema.get("required", []), *alternatives]):
        if name in example:
            variants.append((f"without {name}", {k: v for k, v in example.items() if k != name}))
    for name, prop in {} if missing_only else properties.items():
        for label, value in _bad_values(prop):
            variants.append((f"{name} {label}", {**copy.deepcopy(example), name: value}))
    return [(label, body) for label, body in variants if snap.request_errors(body)]


def valid_requests(snap: Snapshot, example: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """Bodies the snapshot accepts, ``example`` with one field set to each edge of what it allows:
    every enum value, each end of a range, both booleans."""
    schema = snap.request
    if schema is None:
        return []
    variants: list[tuple[str, dict[str, Any]]] = []
    for name, prop in schema.get("properties", {}).items():
        for value in _edge_values(prop):
            variants.append((f"{name}={value!r}", {**copy.deepcopy(example), name: value}))
    return [(label, body) for label, body in variants if not snap.request_errors(body)]


def _edge_values(prop: dict[str, Any]) -> list[Any]:
    values: list[Any] = list(prop.get("enum", []))
    for option in prop.get("anyOf", []):
        values += _edge_values(option)
    if prop.get("type") == "boolean":
        values += [True, False]
    values += [prop[bound] for bound in ("minimum", "maximum") if bound in prop]
    return values


def _bad_values(prop: dict[str, Any]) -> list[tuple[str, Any]]:
    if "enum" in prop:
        return [("outside its enum", "__not_in_enum__")]
    if "const" in prop:
        return [("not its constant", "__not_the_constant__")]
    kinds = prop.get("type")
    kind = kinds if isinstance(kinds, str) else None
    bad: list[tuple[str, Any]] = []
    if kind in _WRONG_TYPE:
        bad.append((f"not a {kind}", _WRONG_TYPE[kind]))
    if "minimum" in prop:
        bad.append(("below its minimum", prop["minimum"] - 1))
    if "maximum" in prop:
        bad.append(("above its maximum", prop["maximum"] + 1))
    if kind == "array" and prop.get("minItems"):
        bad.append(("empty", []))
    return bad
