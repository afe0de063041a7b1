"""Per-user quotas kept in the KV bucket ``gateway``, so every replica counts against the same numbers.

- ``quota.uploads.<user_id>.<hour>``: the user's uploads in this clock hour (UPLOADS_PER_HOUR). Each
  upload is counted before it is downloaded, refused or not: a refused file cost us the download too.
  Old hours' keys expire with the bucket's TTL.
"""

from __future__ import annotations

import time

from nats.js.kv import KeyValue

from gateway_bot.failures import UploadQuotaReached
from gateway_bot.storage.kv import JsonValue, cas_update


class UploadQuota:
    def __init__(self, kv: KeyValue, per_hour: int) -> None:
        self._kv = kv
        self._per_hour = per_hour

    async def take(self, user_id: int) -> None:
        """Count one upload of ``user_id``; raises ``UploadQuotaReached`` when this hour's are used up."""

        def one_more(count: JsonValue | None) -> int:
            if (count or 0) >= self._per_hour:
                raise UploadQuotaReached(self._per_hour)
            return (count or 0) + 1

        await cas_update(self._kv, f"quota.uploads.{user_id}.{int(time.time() // 3600)}", one_more)
