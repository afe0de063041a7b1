"""fal's LLM endpoint ``openrouter/router``: a FIFO of scripted replies, else what a model would
answer (``llm_answers``); and the refusal of the removed ``fal-ai/any-llm``."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

from pydantic import BaseModel, model_validator

from medialab_sandbox.fal.errors import ErrorReply
from medialab_sandbox.fal.llm_answers import reply as default_reply
from medialab_sandbox.fal.recorder import LlmCall

LlmResponder = Callable[[LlmCall], str]


class ScriptedReply(BaseModel):
    """One scripted LLM answer: either ``output`` text or an ``error`` the job fails with."""

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


# fal's model page for the old endpoint reads so; the HTTP status of a call to it is UNCONFIRMED,
# 410 Gone is what an endpoint taken out of service answers.
REMOVED_ENDPOINTS: dict[str, ErrorReply] = {
    "fal-ai/any-llm": ErrorReply(
        status_code=410, body={"detail": "This endpoint is deprecated. This model is no longer supported."}
    ),
}


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
