"""Per-user quotas kept in the KV bucket ``gateway``, so every replica counts against the same numbers.

- ``quota.uploads.<user_id>.<hour>``: the user's uploads in this clock hour, ``{"files": n, "bytes": b}``.
  ``files`` is bounded by UPLOADS_PER_HOUR, ``bytes`` by UPLOAD_BYTES_PER_HOUR: a count alone let one
  user send 30 × 20 MB an hour, and a few such users fill the shared ``uploads`` bucket for everyone.
  Both are counted before the download, from Telegram's ``file_size``: a file the checks refuse later
  still cost us its download and counts; a file over the byte quota is not downloaded and does not.
  When Telegram gives no size, the bytes are counted once downloaded, before anything is stored.
  Old hours' keys expire with the bucket's TTL.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from nats.js.kv import KeyValue

from gateway_bot.failures import UploadBytesQuotaReached, UploadQuotaReached
from gateway_bot.storage.kv import JsonValue, cas_update

HOUR_S = 3600


def _usage(value: JsonValue | None) -> tuple[int, int]:
    """(files, bytes) of a stored hour; a bare number is the count an older gateway wrote."""
    if isinstance(value, dict):
        return int(value.get("files", 0)), int(value.get("bytes", 0))
    return int(value or 0), 0


class UploadQuota:
    def __init__(
        self,
        kv: KeyValue,
        per_hour: int,
        bytes_per_hour: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._kv = kv
        self._per_hour = per_hour
        self._bytes_per_hour = bytes_per_hour
        self._clock = clock

    async def take(self, user_id: int, size: int | None) -> None:
        """Count one upload of ``size`` bytes (None: not known before the download; then call
        ``add_bytes`` once it is). Raises ``UploadQuotaReached`` when this hour's files are used up,
        ``UploadBytesQuotaReached`` when the file does not fit in what is left of this hour's bytes."""
        now = self._clock()

        def one_more(value: JsonValue | None) -> JsonValue:
            files, used = _usage(value)
            if files >= self._per_hour:
                raise UploadQuotaReached(self._per_hour)
            self._check_bytes(used, size or 0, now)
            return {"files": files + 1, "bytes": used + (size or 0)}

        await cas_update(self._kv, self._key(user_id, now), one_more)

    async def add_bytes(self, user_id: int, size: int) -> None:
        """Count the bytes of an upload whose size was unknown before its download (it is already
        counted as a file); raises ``UploadBytesQuotaReached`` when they do not fit, and then counts
        nothing, since the file is not stored."""
        now = self._clock()

        def more_bytes(value: JsonValue | None) -> JsonValue:
            files, used = _usage(value)
            self._check_bytes(used, size, now)
            return {"files": files, "bytes": used + size}

        await cas_update(self._kv, self._key(user_id, now), more_bytes)

    def _check_bytes(self, used: int, size: int, now: float) -> None:
        # An unknown size (0 here) still needs some room left: any file has bytes.
        if used + size > self._bytes_per_hour or used >= self._bytes_per_hour:
            retry_in_s = HOUR_S - now % HOUR_S
            raise UploadBytesQuotaReached(self._bytes_per_hour, used, max(1, math.ceil(retry_in_s / 60)))

    @staticmethod
    def _key(user_id: int, now: float) -> str:
        return f"quota.uploads.{user_id}.{int(now // HOUR_S)}"
