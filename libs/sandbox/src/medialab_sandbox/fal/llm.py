"""``fal-ai/any-llm`` answers: a FIFO of scripted replies, else a deterministic default."""

from __future__ import annotations

import hashlib
from collections import deque
from collections.abc import Callable

from pydantic import BaseModel, model_validator

from medialab_sandbox.fal.errors import ErrorReply
from medialab_sandbox.fal.recorder import LlmCall

LlmResponder = Callable[[LlmCall], str]


class ScriptedReply(BaseModel):
    """One scripted any-llm answer: either ``output`` text or an ``error`` the job fails with."""

    output: str | None = None
    error: ErrorReply | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> ScriptedReply:
        if (self.output is None) == (self.error is None):
            raise ValueError("a scripted reply needs exactly one of output or error")
        return self


def as_scripted(item: str | ErrorReply | ScriptedReply) -> ScriptedReply:
    if isinstance(item, ScriptedReply):
        return item
    if isinstance(item, ErrorReply):
        return ScriptedReply(error=item)
    return ScriptedReply(output=item)


def default_reply(call: LlmCall) -> str:
    """Same input, same text; the digest makes different system prompts visibly differ."""
    digest = hashlib.sha256(f"{call.model}\n{call.system_prompt or ''}\n{call.prompt}".encode())
    return f"[any-llm emulator {digest.hexdigest()[:8]}] {call.prompt}"


class LlmScript:
    def __init__(self, responder: LlmResponder = default_reply) -> None:
        self._responder = responder
        self._queue: deque[ScriptedReply] = deque()

    def push(self, *items: str | ErrorReply | ScriptedReply) -> None:
        self._queue.extend(as_scripted(item) for item in items)

    def clear(self) -> None:
        self._queue.clear()

    @property
    def pending(self) -> int:
        return len(self._queue)

    def answer(self, call: LlmCall) -> str | ErrorReply:
        if self._queue:
            scripted = self._queue.popleft()
            return scripted.error if scripted.error is not None else str(scripted.output)
        return self._responder(call)
