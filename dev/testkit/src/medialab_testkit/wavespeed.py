"""Helpers of wavespeed-runner's tests: the key, face-swap jobs, and the NATS side (``Bus``)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from medialab_contracts.catalog import default_catalog
from medialab_contracts.jobs import JobRequest
from medialab_contracts.media import MediaRef
from medialab_contracts.modes import Mode
from medialab_devstack.job_bus import JobBus
from wavespeed_runner.settings import WaveSpeedRunnerSettings

from medialab_testkit.images import image_bytes

KEY = "ws-runner-key-0123456789abcdef"
FACE_SWAP = default_catalog().for_mode(Mode.faceswap)[0]
TARGET_SIZE = (96, 64)


def make_job(inputs: list[MediaRef], **fields: Any) -> JobRequest:
    values: dict[str, Any] = {
        "user_id": 7,
        "chat_id": 7,
        "mode": Mode.faceswap,
        "runner": FACE_SWAP.runner,
        "model_key": FACE_SWAP.key,
        "model_id": FACE_SWAP.model_id,
        "price": FACE_SWAP.price,
        "inputs": inputs,
    }
    return JobRequest.model_validate({**values, **fields})


class Bus(JobBus):
    async def face_and_target(self, tag: str = "x") -> list[MediaRef]:
        """The M6 inputs in their order: the source face first, then the target photo."""
        face = await self.put_input(f"in/{tag}-face.png", image_bytes((40, 40), (250, 220, 180)))
        target = await self.put_input(f"in/{tag}-target.png", image_bytes(TARGET_SIZE))
        return [face, target]


RunnerFactory = Callable[..., Awaitable[WaveSpeedRunnerSettings]]
