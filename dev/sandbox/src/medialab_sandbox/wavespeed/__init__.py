"""WaveSpeedAI v3 API emulator: a real HTTP server with knobs for limits and faults.

In process::

    async with WaveSpeedEmulator(["key"], config=EmulatorConfig(processing_seconds=0.05)) as emu:
        settings.wavespeed_api_base = emu.base_url
        emu.faults.fail_polls(503, count=2)
        ...
        assert emu.records.max_processing_seen() <= 2

Standalone: ``python -m medialab_sandbox.wavespeed --port 8790 --keys k1``, driven from
another process with ``WaveSpeedEmulatorControl(base_url)``.
"""

from medialab_sandbox.wavespeed.codes import AccountLevel, AccountLimits, TaskErrorCode
from medialab_sandbox.wavespeed.config import EmulatorConfig, InvalidInputMode
from medialab_sandbox.wavespeed.control_client import WaveSpeedEmulatorControl
from medialab_sandbox.wavespeed.control_models import EmulatorState, TaskView
from medialab_sandbox.wavespeed.faults import HangFault, HttpFault, Target, TaskFailure
from medialab_sandbox.wavespeed.records import (
    DownloadRecord,
    PollRecord,
    SubmitRecord,
    UploadRecord,
)
from medialab_sandbox.wavespeed.schemas import FACE_SWAP_MODEL, FACE_SWAP_PRO_MODEL, TaskStatus
from medialab_sandbox.wavespeed.server import WaveSpeedEmulator

__all__ = [
    "FACE_SWAP_MODEL",
    "FACE_SWAP_PRO_MODEL",
    "AccountLevel",
    "AccountLimits",
    "DownloadRecord",
    "EmulatorConfig",
    "EmulatorState",
    "HangFault",
    "HttpFault",
    "InvalidInputMode",
    "PollRecord",
    "SubmitRecord",
    "Target",
    "TaskErrorCode",
    "TaskFailure",
    "TaskStatus",
    "TaskView",
    "UploadRecord",
    "WaveSpeedEmulator",
    "WaveSpeedEmulatorControl",
]
