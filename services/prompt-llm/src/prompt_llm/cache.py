"""Answers cached in the ``llmcache`` KV bucket (TTL set by provisioning).

The key hashes the normalised input (lower case, whitespace collapsed) with the prompt file's
version and the model, so a reworded prompt or another model never serves old answers. The cache
is an optimisation only: when the bucket is unreachable, the operation just calls the LLM.
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any, TypeVar

from nats.js.errors import KeyNotFoundError
from nats.js.kv import KeyValue
from pydantic import BaseModel, ValidationError

from prompt_llm.metrics import CACHE_HITS, CACHE_MISSES
from prompt_llm.prompt_files import PromptFile

log = logging.getLogger(__name__)

M = TypeVar("M", bound=BaseModel)


class CachedTranslation(BaseModel):
    text: str


class CachedStyle(BaseModel):
    style: dict[str, Any]


def normalise(text: str) -> str:
    return " ".join(text.lower().split())


def cache_key(operation: str, prompt: PromptFile, model: str, text: str) -> str:
    digest = hashlib.sha256(f"{prompt.tag}\n{model}\n{normalise(text)}".encode()).hexdigest()
    return f"{operation}.{digest[:40]}"


class LlmCache:
    def __init__(self, kv: KeyValue) -> None:
        self._kv = kv

    async def get(self, operation: str, key: str, model_type: type[M]) -> M | None:
        try:
            entry = await self._kv.get(key)
            value = model_type.model_validate_json(entry.value or b"")
        except KeyNotFoundError:
            value = None
        except ValidationError:
            log.warning("unreadable cache entry for %s; ignoring it", operation)
            value = None
        except Exception as error:  # the bucket being down must never fail the request
            log.warning("llm cache read failed (%s); calling the LLM", type(error).__name__)
            value = None
        (CACHE_HITS if value is not None else CACHE_MISSES).labels(operation).inc()
        return value

    async def put(self, key: str, value: BaseModel) -> None:
        try:
            await self._kv.put(key, value.model_dump_json().encode())
        except Exception as error:  # a lost cache write only costs a later LLM call
            log.warning("llm cache write failed (%s)", type(error).__name__)
