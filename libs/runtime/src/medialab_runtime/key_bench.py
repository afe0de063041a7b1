"""Which of a provider's keys are in rotation: a key the provider refused (locked, no balance,
revoked) is benched for a while, in this process only; every replica finds out for itself, at the
cost of one refused call. Apart from the slots' lease algorithm, which only asks it which accounts
and keys to use."""

from __future__ import annotations

import time
from collections.abc import Sequence

from medialab_runtime.provider_keys import Account, ProviderKey


class KeyBench:
    def __init__(self, accounts: Sequence[Account]) -> None:
        self.accounts: tuple[Account, ...] = tuple(accounts)
        self.keys: tuple[ProviderKey, ...] = tuple(key for account in self.accounts for key in account.keys)
        self._by_fingerprint = {key.fingerprint: key for key in self.keys}
        self._by_name = {account.name: account for account in self.accounts}
        self._benched_until: dict[str, float] = {}

    def key(self, fingerprint: str) -> ProviderKey | None:
        return self._by_fingerprint.get(fingerprint)

    def account(self, name: str) -> Account:
        return self._by_name[name]

    def bench(self, key: ProviderKey, seconds: float) -> bool:
        """Keep ``key`` out of the rotation for ``seconds``; True while another key is still in it."""
        self._benched_until[key.fingerprint] = time.monotonic() + seconds
        return len(self.usable_keys()) < len(self.keys)

    def is_benched(self, key: ProviderKey) -> bool:
        return self._benched_until.get(key.fingerprint, 0.0) > time.monotonic()

    def usable_keys(self, account: Account | None = None) -> tuple[ProviderKey, ...]:
        """The keys in rotation (of ``account``, or of all); all of them when every one is benched
        (one may work again)."""
        keys = account.keys if account is not None else self.keys
        return tuple(key for key in keys if not self.is_benched(key)) or keys

    def usable_accounts(self) -> tuple[Account, ...]:
        """Accounts with a key in rotation; all of them when none has one."""
        usable = {key.account for key in self.keys if not self.is_benched(key)}
        return tuple(a for a in self.accounts if a.name in usable) or self.accounts
