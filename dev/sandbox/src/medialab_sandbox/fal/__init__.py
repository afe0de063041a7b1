"""fal.ai emulator: queue API, REST storage and CDN on one local port, with fault knobs.

In-process: ``async with FalEmulator(keys=["id:secret"]) as fal: ...`` then point clients at
``fal.queue_base`` / ``fal.rest_base``. Another process: ``python -m medialab_sandbox.fal`` and
drive it with ``FalEmulatorControl``.
"""

from medialab_sandbox.fal.control import FalEmulatorControl
from medialab_sandbox.fal.errors import (
    ErrorReply,
    account_locked,
    content_policy_violation,
    field_error,
    forbidden,
    infra_error,
    model_error,
    rate_limited,
    temporarily_disabled,
)
from medialab_sandbox.fal.faults import Latency, Phase
from medialab_sandbox.fal.inference import MODELS
from medialab_sandbox.fal.llm import ScriptedReply
from medialab_sandbox.fal.recorder import KeyConcurrency, LlmCall, SubmitRecord, WebhookDelivery
from medialab_sandbox.fal.server import FalEmulator

__all__ = [
    "MODELS",
    "ErrorReply",
    "FalEmulator",
    "FalEmulatorControl",
    "KeyConcurrency",
    "Latency",
    "LlmCall",
    "Phase",
    "ScriptedReply",
    "SubmitRecord",
    "WebhookDelivery",
    "account_locked",
    "content_policy_violation",
    "field_error",
    "forbidden",
    "infra_error",
    "model_error",
    "rate_limited",
    "temporarily_disabled",
]
