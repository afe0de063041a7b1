"""Ask the LLM, validate, and on a rejected answer ask exactly once more with the complaint."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from medialab_contracts.errors import MediaLabError

from prompt_llm.answers import BadAnswer
from prompt_llm.llm_client import LlmCall, LlmClient
from prompt_llm.metrics import REPAIRS
from prompt_llm.prompt_files import PromptFile, render

log = logging.getLogger(__name__)

T = TypeVar("T")

# How much of a rejected answer goes back to the model: enough to see the problem, and the
# repair prompt stays well inside fal.llm's 20 000-character bound.
MAX_ECHOED_ANSWER = 8_000


@dataclass(frozen=True)
class Task:
    operation: str
    system: PromptFile
    temperature: float | None
    max_tokens: int | None


@dataclass(frozen=True)
class Answer(Generic[T]):
    value: T
    repaired: bool


class StillBad(Exception):
    """The repair answer was rejected too."""

    def __init__(self, complaint: str) -> None:
        super().__init__(complaint)
        self.complaint = complaint


class Asker:
    def __init__(
        self, llm: LlmClient, repair_template: PromptFile, call_timeout_s: float, min_repair_budget_s: float
    ) -> None:
        self._llm = llm
        self._repair = repair_template
        self._call_timeout_s = call_timeout_s
        self._min_repair_budget_s = min_repair_budget_s

    async def ask(
        self, task: Task, message: str, read: Callable[[str], T], trace_id: str, deadline: float
    ) -> Answer[T]:
        """``deadline`` (``time.monotonic()``) bounds both calls, so the caller's wait is bounded too."""
        first = await self._complete(task, message, trace_id, self._budget(deadline))
        try:
            return Answer(read(first), repaired=False)
        except BadAnswer as bad:
            complaint = bad.complaint
        if deadline - time.monotonic() < self._min_repair_budget_s:
            REPAIRS.labels(task.operation, "no_time").inc()
            log.warning("%s answer rejected (%s); no time left to repair it", task.operation, complaint)
            raise StillBad(complaint)
        log.info("%s answer rejected (%s); one repair call", task.operation, complaint)
        repair_message = render(
            self._repair, complaint=complaint, request=message, answer=first[:MAX_ECHOED_ANSWER]
        )
        try:
            second = await self._complete(task, repair_message, trace_id, self._budget(deadline))
        except MediaLabError:
            REPAIRS.labels(task.operation, "error").inc()
            raise
        try:
            value = read(second)
        except BadAnswer as bad:
            REPAIRS.labels(task.operation, "rejected").inc()
            log.warning("%s repair answer rejected too (%s)", task.operation, bad.complaint)
            raise StillBad(bad.complaint) from None
        REPAIRS.labels(task.operation, "fixed").inc()
        return Answer(value, repaired=True)

    def _budget(self, deadline: float) -> float:
        # fal.llm refuses a zero budget; a spent deadline still makes one short, failing call.
        return max(0.1, min(self._call_timeout_s, deadline - time.monotonic()))

    async def _complete(self, task: Task, message: str, trace_id: str, timeout_s: float) -> str:
        return await self._llm.complete(
            LlmCall(
                operation=task.operation,
                system_prompt=task.system.text,
                prompt=message,
                temperature=task.temperature,
                max_tokens=task.max_tokens,
                trace_id=trace_id,
                timeout_s=timeout_s,
            )
        )
