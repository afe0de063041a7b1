"""A key fal refuses (locked account, exhausted balance, revoked) leaves the rotation for a while.

Only on proof: 401, or 403 whose body says the user is locked (``fal_api.refuses_key``). fal answers
such a key so whatever the request; without benching, every job that drew it failed while the other
keys of the pool were fine. Any other 403 (one endpoint refusing, say) keeps every key in rotation:
benching on it would take the whole pool out over one model. The call is made again on another key;
with no other key left, the refusal stands.
"""

from __future__ import annotations

import logging
import random

from medialab_runtime.provider_keys import ProviderKey
from medialab_runtime.slots import SlotPool

from fal_runner.fal_api import FalError, FalRejected

log = logging.getLogger(__name__)


class KeyRotation:
    def __init__(self, slots: SlotPool, cooldown_s: float) -> None:
        self._slots = slots
        self._cooldown_s = cooldown_s

    def pick(self) -> ProviderKey:
        """A key for calls that take no slot (uploads to fal's CDN)."""
        return random.choice(self._slots.rotation.usable_keys())

    def try_another(self, key: ProviderKey, error: FalError) -> bool:
        """After ``error`` from a call on ``key``: True when it refused the key and another key is left."""
        if not isinstance(error, FalRejected) or not error.key_refused:
            return False
        another = self._slots.rotation.bench(key, self._cooldown_s)
        log.warning(
            "fal refused key %s (%d); out of rotation for %.0fs%s",
            key.fingerprint,
            error.status,
            self._cooldown_s,
            ", trying another key" if another else "; no other key",
        )
        return another
