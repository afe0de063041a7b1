"""A key fal refuses (locked account, exhausted balance, revoked) leaves the rotation for a while.

fal answers such a key with 401/403 whatever the request; without this, every job that drew it failed
as ``provider_unavailable`` while the other keys of the pool were fine. The call is made again on
another key; with no other key left, the refusal stands.
"""

from __future__ import annotations

import logging
import random

from medialab_runtime.slots import ProviderKey, SlotPool

from fal_runner.fal_api import FalError, FalRejected

log = logging.getLogger(__name__)

KEY_REFUSED_STATUSES = frozenset({401, 403})


class KeyRotation:
    def __init__(self, slots: SlotPool, cooldown_s: float) -> None:
        self._slots = slots
        self._cooldown_s = cooldown_s

    def pick(self) -> ProviderKey:
        """A key for calls that take no slot (uploads to fal's CDN)."""
        return random.choice(self._slots.usable_keys())

    def try_another(self, key: ProviderKey, error: FalError) -> bool:
        """After ``error`` from a call on ``key``: True when it refused the key and another key is left."""
        if not isinstance(error, FalRejected) or error.status not in KEY_REFUSED_STATUSES:
            return False
        another = self._slots.bench(key, self._cooldown_s)
        log.warning(
            "fal refused key %s (%d); out of rotation for %.0fs%s",
            key.fingerprint,
            error.status,
            self._cooldown_s,
            ", trying another key" if another else "; no other key",
        )
        return another
