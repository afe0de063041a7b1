"""Provider API keys grouped by the account they belong to.

Providers limit an **account**, not a key: fal counts requests in progress per account (2 for a new
one, rising to 40 with credit purchases), WaveSpeed limits an account by its level. Several keys of
one account therefore share one limit, and the slot pool counts per account (see slots.py and
docs/provider-slots.md).

A key list (``FAL_KEYS``) is a comma list or a JSON list:
- ``acct=id:secret`` names the key's account; ``acct=id:secret@12`` also gives the account a limit;
- a plain ``id:secret`` (the older form) is an account of its own, named by the key's fingerprint;
- JSON entries are strings of those forms or objects ``{"key": ..., "account": ..., "limit": ...}``.
Account limits may also come from a separate mapping (``FAL_ACCOUNT_LIMITS``: ``acct=12,other=40``
or a JSON object); an account without one gets the default.

Secrets never appear in names, errors or reprs: a key is known by its fingerprint, a short hash; an
account name is an operator's label, restricted to characters safe in KV keys and metric labels.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass

from pydantic import SecretStr

_FINGERPRINT_CHARS = 12
_ACCOUNT_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_NAMED = re.compile(r"^(?P<account>[A-Za-z0-9_-]{1,64})=(?P<rest>.+)$")
_LIMIT_SUFFIX = re.compile(r"^(?P<secret>.+)@(?P<limit>\d+)$")


class KeySpecError(ValueError):
    """A malformed key list; the message names the entry by position, never by its value."""


def fingerprint(secret: str) -> str:
    """A short, stable, non-reversible name for a key: safe in KV keys, logs and metric labels."""
    return hashlib.sha256(secret.encode()).hexdigest()[:_FINGERPRINT_CHARS]


@dataclass(frozen=True)
class ProviderKey:
    secret: SecretStr
    fingerprint: str
    account: str

    @classmethod
    def of(cls, secret: str, account: str | None = None) -> ProviderKey:
        """A key of ``account`` (default: an account of its own, named by the key's fingerprint)."""
        fp = fingerprint(secret)
        return cls(SecretStr(secret), fp, account or fp)


@dataclass(frozen=True)
class Account:
    """The keys of one provider account and the number of its requests allowed in progress."""

    name: str
    limit: int
    keys: tuple[ProviderKey, ...]

    def __post_init__(self) -> None:
        if self.limit < 1:
            raise KeySpecError(f"account {self.name}: the limit must be at least 1")
        if not self.keys:
            raise KeySpecError(f"account {self.name} has no key")

    @classmethod
    def single(cls, secret: str, limit: int) -> Account:
        """One key that is its own account (WaveSpeed: one key per account)."""
        key = ProviderKey.of(secret)
        return cls(key.account, limit, (key,))


@dataclass(frozen=True)
class _Entry:
    secret: str
    account: str | None
    limit: int | None


def parse_account_limits(raw: str) -> dict[str, int]:
    """``acct=12,other=40`` or ``{"acct": 12}``; raises ``KeySpecError``."""
    text = raw.strip()
    if not text:
        return {}
    pairs: list[tuple[object, object]]
    if text.startswith("{"):
        try:
            loaded = json.loads(text)
        except json.JSONDecodeError:
            raise KeySpecError("the account limits look like JSON but do not parse") from None
        if not isinstance(loaded, dict):
            raise KeySpecError("the account limits must be a JSON object")
        pairs = list(loaded.items())
    else:
        pairs = []
        for position, part in enumerate((p for p in text.split(",") if p.strip()), start=1):
            name, sep, value = part.strip().partition("=")
            if not sep or not value.strip().isdigit():
                raise KeySpecError(f"account limit {position} is not 'account=number'")
            pairs.append((name.strip(), int(value)))
    limits: dict[str, int] = {}
    for position, (account, limit) in enumerate(pairs, start=1):
        if not isinstance(account, str) or not _ACCOUNT_NAME.match(account):
            raise KeySpecError(f"account limit {position} has a bad account name")
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise KeySpecError(f"account limit {position} has a bad limit")
        limits[account] = limit
    return limits


def parse_accounts(raw: str, default_limit: int, limits: Mapping[str, int] | None = None) -> list[Account]:
    """The accounts of a key list, in order of first appearance; raises ``KeySpecError``."""
    text = raw.strip()
    if not text:
        return []
    entries: list[object]
    if text.startswith("["):
        try:
            loaded = json.loads(text)
        except json.JSONDecodeError:
            raise KeySpecError("the key list looks like JSON but does not parse") from None
        if not isinstance(loaded, list):
            raise KeySpecError("the key list must be a JSON list")
        entries = loaded
    else:
        entries = [part for part in text.split(",") if part.strip()]
    keys: dict[str, list[ProviderKey]] = {}
    entry_limits: dict[str, int] = {}
    seen: set[str] = set()
    for position, item in enumerate(entries, start=1):
        entry = _parse_entry(item, position)
        key = ProviderKey.of(entry.secret, entry.account)
        if key.fingerprint in seen:
            raise KeySpecError(f"key entry {position} repeats an earlier key")
        seen.add(key.fingerprint)
        if entry.limit is not None:
            if entry_limits.setdefault(key.account, entry.limit) != entry.limit:
                raise KeySpecError(f"key entry {position} gives its account a second, different limit")
        keys.setdefault(key.account, []).append(key)
    overrides = dict(limits or {})
    if unknown := sorted(set(overrides) - set(keys)):
        raise KeySpecError(f"account limits name accounts without a key: {', '.join(unknown)}")
    return [
        Account(name, overrides.get(name, entry_limits.get(name, default_limit)), tuple(members))
        for name, members in keys.items()
    ]


def _parse_entry(item: object, position: int) -> _Entry:
    if isinstance(item, dict):
        secret, account, limit = item.get("key"), item.get("account"), item.get("limit")
        if not isinstance(secret, str) or not secret.strip():
            raise KeySpecError(f"key entry {position} has no 'key' string")
        if account is not None and (not isinstance(account, str) or not _ACCOUNT_NAME.match(account)):
            raise KeySpecError(f"key entry {position} has a bad 'account' (letters, digits, _ and -)")
        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
            raise KeySpecError(f"key entry {position} has a bad 'limit'")
        return _Entry(secret.strip(), account, limit)
    if not isinstance(item, str) or not item.strip():
        raise KeySpecError(f"key entry {position} is not a string")
    text = item.strip()
    account = None
    named = _NAMED.match(text)
    # fal keys are ``<uuid>:<hex>``: an ``=`` before the first ``:`` can only end an account name.
    if named is not None:
        account, text = named["account"], named["rest"].strip()
    match = _LIMIT_SUFFIX.match(text)
    if match is None:
        return _Entry(text, account, None)
    limit = int(match["limit"])
    if limit < 1:
        raise KeySpecError(f"key entry {position} has a bad limit")
    return _Entry(match["secret"], account, limit)
