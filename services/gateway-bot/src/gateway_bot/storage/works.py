"""«🖼 Мои работы»: each delivered result kept for WORKS_TTL_S with what made it.

KV ``works``, key ``work.<user_id>.<job_id>``: the job's order (mode, model, prompt, options, inputs),
its price and seed, and per output the Telegram ``file_id`` of the document sent, so «⬇️ Оригинал»
re-sends without an upload. The owner is part of the key: a user reads only keys under their own id,
so another user's work is never found, let alone shown. The output's bytes are copied into the object
store ``kept`` under the result's own name, since ``media`` keeps results a week only; «✏️ Изменить»
and «🔍 Улучшить» copy them back into ``media`` when the job needs them there. Both buckets expire
their entries after the same TTL; a record seen past it (the server sweeps with a delay) says so.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from medialab_contracts.media import MediaRef
from medialab_runtime.kv_keys import keys_matching
from medialab_runtime.media_store import MediaNotFound, MediaStore
from nats.js.errors import APIError
from nats.js.kv import KeyValue
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from gateway_bot.storage.kv import cas_update, read_json

log = logging.getLogger(__name__)


class KeptOutput(BaseModel):
    model_config = ConfigDict(frozen=True)

    index: int = Field(ge=0)
    ref: MediaRef  # the result in ``media`` (and its copy in ``kept``, same name)
    file_id: str  # the document as Telegram knows it


class Work(BaseModel):
    model_config = ConfigDict(frozen=True)

    job_id: str
    user_id: int
    created_at: datetime
    price: int
    seed: int | None = None
    order: dict[str, Any]  # the launcher's ``Order`` as JSON (validated where it is used)
    outputs: tuple[KeptOutput, ...] = ()

    def output(self, index: int) -> KeptOutput | None:
        return next((output for output in self.outputs if output.index == index), None)

    def expires_at(self, ttl_s: float) -> datetime:
        return self.created_at + timedelta(seconds=ttl_s)


class WorkGone(LookupError):
    """The work (or its kept copy) is past its TTL or was deleted."""


class KeptWorks:
    def __init__(self, kv: KeyValue, kept: MediaStore, media: MediaStore, ttl_s: float) -> None:
        self._kv = kv
        self._kept = kept
        self._media = media
        self.ttl_s = ttl_s

    @staticmethod
    def key(user_id: int, job_id: str) -> str:
        return f"work.{user_id}.{job_id}"

    @staticmethod
    def user_pattern(user_id: int) -> str:
        return f"work.{user_id}.*"

    async def keep(
        self,
        *,
        user_id: int,
        job_id: str,
        created_at: datetime,
        order: dict[str, Any],
        price: int,
        seed: int | None,
        output: KeptOutput,
        data: bytes,
        inputs: Sequence[MediaRef] = (),
    ) -> None:
        """Record one delivered output (its copy first, so a record never names bytes never kept).

        The job's input images are kept too, so «🔁 Повторить» of an edit works for as long as the
        work is kept, not only while ``media`` still has them.
        """
        try:
            await self._kept.put(
                output.ref.object_name,
                data,
                output.ref.content_type,
                width=output.ref.width,
                height=output.ref.height,
            )
            for ref in inputs:
                if not await self._kept.exists(ref.object_name):
                    await _copy(self._media, self._kept, ref)
        except (APIError, MediaNotFound) as error:
            # ``kept`` full (it refuses new writes) or an input gone: «⬇️ Оригинал» still works by file_id.
            log.warning("result %s of %s not fully kept: %s", output.ref.object_name, job_id, error)

        def add(current: dict[str, Any] | None) -> dict[str, Any]:
            base = current or Work(
                job_id=job_id,
                user_id=user_id,
                created_at=created_at,
                price=price,
                seed=seed,
                order=order,
            ).model_dump(mode="json")
            outputs = [o for o in base.get("outputs", []) if o["index"] != output.index]
            outputs.append(output.model_dump(mode="json"))
            return {**base, "outputs": sorted(outputs, key=lambda o: o["index"])}

        await cas_update(self._kv, self.key(user_id, job_id), add)

    async def get(self, user_id: int, job_id: str) -> Work | None:
        value, _ = await read_json(self._kv, self.key(user_id, job_id))
        return _parse(value)

    async def newest_first(self, user_id: int) -> list[Work]:
        """Every work of the user, newest first (a user has at most a month of them)."""
        works = [_parse((await read_json(self._kv, key))[0]) for key in await self.keys(user_id)]
        return sorted((w for w in works if w is not None), key=lambda w: w.created_at, reverse=True)

    async def keys(self, user_id: int) -> list[str]:
        return await keys_matching(self._kv, self.user_pattern(user_id))

    async def restore(self, refs: Sequence[MediaRef]) -> None:
        """Put back into ``media`` the kept copies of ``refs`` it let go (a repeat's inputs); one not
        kept is left for the launcher to refuse with a request to send it again."""
        for ref in refs:
            if not await self._media.exists(ref.object_name):
                try:
                    await _copy(self._kept, self._media, ref)
                except MediaNotFound:
                    log.info("input %s is no longer kept", ref.object_name)

    async def input_ref(self, work: Work, index: int) -> MediaRef:
        """The output as a job input: in ``media``, copied back from ``kept`` when ``media`` let it go."""
        output = work.output(index)
        if output is None:
            raise WorkGone(f"{work.job_id} has no output {index}")
        ref = output.ref
        if await self._media.exists(ref.object_name):
            return ref
        try:
            return await _copy(self._kept, self._media, ref)
        except MediaNotFound:
            raise WorkGone(ref.object_name) from None


async def _copy(source: MediaStore, target: MediaStore, ref: MediaRef) -> MediaRef:
    data = await source.get(ref.object_name)
    return await target.put(
        ref.object_name, data, ref.content_type, width=ref.width, height=ref.height, file_name=ref.file_name
    )


def _parse(value: Any) -> Work | None:
    if value is None:
        return None
    try:
        return Work.model_validate(value)
    except ValidationError:
        return None  # written by a gateway version with another shape
