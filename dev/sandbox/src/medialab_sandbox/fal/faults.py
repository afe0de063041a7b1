"""Fault knobs: armed one-shot (or counted, or permanent) misbehaviours and job timing.

Every fault may target one model id (exact match); ``count=None`` keeps it armed until cleared.
Faults are plain pydantic models so the control endpoints accept the very same objects.
"""

from __future__ import annotations

from enum import StrEnum
from typing import TypeVar

from pydantic import BaseModel, Field

from medialab_sandbox.fal.errors import ErrorReply
from medialab_sandbox.fal.images import ImageFormat


class Phase(StrEnum):
    """The HTTP call a fault applies to."""

    SUBMIT = "submit"
    STATUS = "status"
    RESULT = "result"
    CANCEL = "cancel"


class Fault(BaseModel):
    count: int | None = Field(default=1, ge=1)
    model: str | None = None

    def applies_to(self, model_id: str | None) -> bool:
        return self.model is None or self.model == model_id


class SubmitFault(Fault):
    """The next submits answer ``error`` instead of queueing (429, 5xx, "Temporarily disabled")."""

    error: ErrorReply


class PollFault(Fault):
    """The next status and/or result polls answer ``error``; the job itself is unaffected."""

    error: ErrorReply
    phases: frozenset[Phase] = frozenset({Phase.STATUS, Phase.RESULT})


class JobFault(Fault):
    """The next accepted jobs complete with ``error`` (after their input validated)."""

    error: ErrorReply


class HangFault(Fault):
    """The next matching calls are accepted and never answered (until the emulator stops)."""

    phases: frozenset[Phase] = frozenset({Phase.SUBMIT})


class SlowJobs(Fault):
    """The next accepted jobs stay IN_PROGRESS for ``run_seconds`` instead of the latency."""

    run_seconds: float = Field(ge=0)


class ShortResults(Fault):
    """The next completed jobs return ``missing`` fewer images than their ``num_images`` (at least one):
    a model that delivered only part of a request for several."""

    missing: int = Field(default=1, ge=1)


class Latency(BaseModel):
    """Time a job spends IN_QUEUE before it may start, then IN_PROGRESS before completing."""

    queue_seconds: float = Field(default=0.0, ge=0)
    run_seconds: float = Field(default=0.0, ge=0)


AnyFault = SubmitFault | PollFault | JobFault | HangFault | SlowJobs | ShortResults
F = TypeVar("F", bound=Fault)


class FaultBook:
    """Armed faults in arming order, latencies per model, locked keys, output overrides."""

    def __init__(self, default_latency: Latency | None = None) -> None:
        self._default_latency = default_latency or Latency()
        self.clear()

    def clear(self) -> None:
        self._faults: list[Fault] = []
        self._latency: dict[str | None, Latency] = {None: self._default_latency}
        self.locked_keys: dict[str, str] = {}
        self.upscale_format: ImageFormat | None = None
        self.grainy_output = False  # photo-like, incompressible outputs (heavy files)
        self.nsfw_flagged = False  # the safety checker flags every output of models that report it

    def arm(self, fault: AnyFault) -> None:
        self._faults.append(fault.model_copy())

    def set_latency(self, latency: Latency, model: str | None = None) -> None:
        self._latency[model] = latency

    def latency_for(self, model_id: str) -> Latency:
        return self._latency.get(model_id, self._latency[None])

    def take_submit_error(self, model_id: str) -> ErrorReply | None:
        fault = self._take(SubmitFault, model_id)
        return fault.error if fault else None

    def take_poll_error(self, model_id: str, phase: Phase) -> ErrorReply | None:
        fault = self._take(PollFault, model_id, phase)
        return fault.error if fault else None

    def take_job_error(self, model_id: str) -> ErrorReply | None:
        fault = self._take(JobFault, model_id)
        return fault.error if fault else None

    def take_hang(self, model_id: str | None, phase: Phase) -> bool:
        return self._take(HangFault, model_id, phase) is not None

    def take_slow(self, model_id: str) -> float | None:
        fault = self._take(SlowJobs, model_id)
        return fault.run_seconds if fault else None

    def images_returned(self, model_id: str, asked: int) -> int:
        """How many of ``asked`` images a job returns: all, unless a ShortResults fault takes some."""
        fault = self._take(ShortResults, model_id) if asked > 1 else None
        return asked if fault is None else max(1, asked - fault.missing)

    def _take(self, kind: type[F], model_id: str | None, phase: Phase | None = None) -> F | None:
        for fault in self._faults:
            if not isinstance(fault, kind) or not fault.applies_to(model_id):
                continue
            phases: frozenset[Phase] | None = getattr(fault, "phases", None)
            if phase is not None and phases is not None and phase not in phases:
                continue
            if fault.count is not None:
                fault.count -= 1
                if fault.count == 0:
                    self._faults.remove(fault)
            return fault
        return None
