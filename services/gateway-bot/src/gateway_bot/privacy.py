"""``/delete_me``: a user's photos, results, drafts and prompts leave every store the gateway reaches.

Billing goes first (``billing.forget``): it refuses while a job of the user runs, and it answers with
every job id of the user and the input objects their stored jobs named. Then the gateway deletes:

- in ``media``: ``results/<job_id>/…`` of each job, the inputs those jobs named, and any object a
  draft or an album part of theirs names;
- in ``uploads`` and ``media``: every upload of theirs (``uploads/<user_id>/…``, named by owner);
- in ``gateway``: each job's records (``order`` holds the prompt, ``status``, ``delivered``,
  ``sent``, ``rephrase``), the user's ``launch`` claims and every uploads list naming their uploads;
- in ``fsm``: their conversation state and draft (prompt, options) in every chat with the bot;
- in ``albums``: the albums they sent in their private chat;
- in ``works`` and ``kept``: their «🖼 Мои работы» records and the kept copies of their results.

Each step is idempotent, so a user whose deletion failed half-way asks again and it completes.
What stays: billing's money rows (amounts, no content), the user's Telegram id in them, and the
messages already in the Telegram chat, which the user deletes in Telegram.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from medialab_contracts import subjects
from medialab_runtime.kv_keys import keys_matching
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError
from nats.js.kv import KeyValue
from nats.js.object_store import ObjectStore

from gateway_bot.clients.billing import BillingClient
from gateway_bot.storage.kv import read_json
from gateway_bot.storage.works import KeptWorks

log = logging.getLogger(__name__)

_JOB_RECORDS = ("order", "status", "delivered", "rephrase")


@dataclass(frozen=True)
class Forgotten:
    objects: int  # objects deleted from ``media``, ``uploads`` and ``kept``
    records: int  # keys purged from the gateway's KV buckets


def object_names(value: Any) -> Iterator[str]:
    """Every ``object_name`` inside a JSON value (a MediaRef anywhere in a draft, order or album)."""
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "object_name" and isinstance(item, str):
                yield item
            else:
                yield from object_names(item)
    elif isinstance(value, list):
        for item in value:
            yield from object_names(item)


class UserDataEraser:
    def __init__(
        self,
        billing: BillingClient,
        js: JetStreamContext,
        gateway_kv: KeyValue,
        fsm_kv: KeyValue,
        albums_kv: KeyValue,
        works_kv: KeyValue,
        bot_id: int,
    ) -> None:
        self._billing = billing
        self._js = js
        self._gateway = gateway_kv
        self._fsm = fsm_kv
        self._albums = albums_kv
        self._works = works_kv
        self._bot_id = bot_id

    async def forget(self, user_id: int) -> Forgotten:
        """Raises billing's ``Conflict`` while a job of the user runs: nothing is deleted then."""
        reply = await self._billing.forget(user_id)
        names: set[str] = set(reply.object_names)
        owned = f"uploads/{user_id}/"
        prefixes = {owned, *(f"results/{job_id}/" for job_id in reply.job_ids)}
        kv_keys: list[tuple[KeyValue, str]] = []

        # aiogram's keys: ``fsm.<bot>.<chat>.<user>``, with the topic before the user in forum chats.
        fsm_keys = (f"fsm.{self._bot_id}.*.{user_id}", f"fsm.{self._bot_id}.*.*.{user_id}")
        for key in await keys_matching(self._fsm, *fsm_keys):
            value, _ = await read_json(self._fsm, key)
            names.update(object_names(value))
            kv_keys.append((self._fsm, key))

        kv_keys += [(self._gateway, key) for key in await keys_matching(self._gateway, f"launch.{user_id}.>")]
        # A flow's uploads list is keyed by the flow alone; the user's are those naming their uploads.
        # Reading every list is O(flows of the last week), acceptable for a rare command.
        for key in await keys_matching(self._gateway, "inputs.>"):
            value, _ = await read_json(self._gateway, key)
            listed = set(object_names(value))
            if any(name.startswith(owned) for name in listed):
                names.update(listed)
                kv_keys.append((self._gateway, key))

        for job_id in reply.job_ids:
            order, _ = await read_json(self._gateway, f"order.{job_id}")
            names.update(object_names(order))
            job_keys = [f"{kind}.{job_id}" for kind in _JOB_RECORDS]
            job_keys += await keys_matching(self._gateway, f"sent.{job_id}.>")
            kv_keys += [(self._gateway, key) for key in job_keys]

        # Album keys are ``<chat_id>.<media_group_id>``: the user's private chat has the user's id.
        for key in await keys_matching(self._albums, f"{user_id}.>"):
            value, _ = await read_json(self._albums, key)
            names.update(object_names(value))
            kv_keys.append((self._albums, key))

        # Kept works are keyed by their owner; each names its results (copied in ``kept``) and inputs.
        for key in await keys_matching(self._works, KeptWorks.user_pattern(user_id)):
            value, _ = await read_json(self._works, key)
            names.update(object_names(value))
            kv_keys.append((self._works, key))

        # Uploads carry their owner in their name, in the uploads bucket and, once a job took them, in media.
        deleted = sum(
            [
                await self._delete_objects(subjects.MEDIA_BUCKET, names, prefixes),
                await self._delete_objects(subjects.UPLOADS_BUCKET, names, prefixes),
                await self._delete_objects(subjects.KEPT_BUCKET, names, prefixes),
            ]
        )
        await asyncio.gather(*(kv.purge(key) for kv, key in kv_keys))
        log.info("user %d forgotten: %d objects, %d records", user_id, deleted, len(kv_keys))
        return Forgotten(objects=deleted, records=len(kv_keys))

    async def _delete_objects(self, bucket: str, names: set[str], prefixes: Iterable[str]) -> int:
        store: ObjectStore = await self._js.object_store(bucket)
        starts = tuple(prefixes)
        try:
            listed = await store.list(ignore_deletes=True)
        except NotFoundError:  # an empty store
            listed = []
        doomed = {
            info.name for info in listed if info.name in names or (starts and info.name.startswith(starts))
        }

        async def delete(name: str) -> bool:
            try:
                await store.delete(name)
            except NotFoundError:
                return False
            return True

        return sum(await asyncio.gather(*(delete(name) for name in doomed)))
