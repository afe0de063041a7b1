"""``/_emu`` control endpoints: the knob and record API for tests in another process.

No auth: the emulator is a local test double. Bodies are the same pydantic models the
in-process API takes (faults, ``ErrorReply``), see ``control_models``.
"""

from __future__ import annotations

from fastapi import APIRouter

from medialab_sandbox.fal.control_models import (
    AccountSetting,
    ConcurrencyLimit,
    KeyLock,
    LatencySetting,
    LlmScriptItems,
    OutputGrain,
    SafetyVerdict,
    Stats,
    UpscaleFormat,
)
from medialab_sandbox.fal.deps import Emulator
from medialab_sandbox.fal.faults import HangFault, JobFault, PollFault, ShortResults, SlowJobs, SubmitFault
from medialab_sandbox.fal.recorder import CancelRecord, LlmCall, SubmitRecord, WebhookDelivery

router = APIRouter(prefix="/_emu")

OK = {"ok": True}


@router.get("/health")
async def health() -> dict[str, bool]:
    return OK


@router.post("/reset")
async def reset(emu: Emulator) -> dict[str, bool]:
    emu.reset()
    return OK


@router.post("/faults/clear")
async def clear_faults(emu: Emulator) -> dict[str, bool]:
    emu.clear_faults()
    return OK


@router.post("/faults/submit")
async def fail_submits(fault: SubmitFault, emu: Emulator) -> dict[str, bool]:
    emu.arm(fault)
    return OK


@router.post("/faults/poll")
async def fail_polls(fault: PollFault, emu: Emulator) -> dict[str, bool]:
    emu.arm(fault)
    return OK


@router.post("/faults/job")
async def fail_jobs(fault: JobFault, emu: Emulator) -> dict[str, bool]:
    emu.arm(fault)
    return OK


@router.post("/faults/hang")
async def hang(fault: HangFault, emu: Emulator) -> dict[str, bool]:
    emu.arm(fault)
    return OK


@router.post("/faults/slow")
async def slow_jobs(fault: SlowJobs, emu: Emulator) -> dict[str, bool]:
    emu.arm(fault)
    return OK


@router.post("/faults/short")
async def short_results(fault: ShortResults, emu: Emulator) -> dict[str, bool]:
    emu.arm(fault)
    return OK


@router.put("/latency")
async def set_latency(setting: LatencySetting, emu: Emulator) -> dict[str, bool]:
    emu.set_latency(queue_seconds=setting.queue_seconds, run_seconds=setting.run_seconds, model=setting.model)
    return OK


@router.put("/concurrency-limit")
async def set_concurrency_limit(setting: ConcurrencyLimit, emu: Emulator) -> dict[str, bool]:
    emu.set_concurrency_limit(setting.key, setting.limit)
    return OK


@router.put("/account")
async def set_account(setting: AccountSetting, emu: Emulator) -> dict[str, bool]:
    emu.set_account(setting.name, setting.keys, setting.limit)
    return OK


@router.put("/key-lock")
async def key_lock(setting: KeyLock, emu: Emulator) -> dict[str, bool]:
    if setting.reason is None:
        emu.unlock_key(setting.key)
    else:
        emu.lock_key(setting.key, setting.reason)
    return OK


@router.put("/upscale-format")
async def upscale_format(setting: UpscaleFormat, emu: Emulator) -> dict[str, bool]:
    emu.set_upscale_format(setting.format)
    return OK


@router.put("/safety")
async def safety(setting: SafetyVerdict, emu: Emulator) -> dict[str, bool]:
    emu.set_nsfw_flagged(setting.flagged)
    return OK


@router.put("/output-grain")
async def output_grain(setting: OutputGrain, emu: Emulator) -> dict[str, bool]:
    emu.set_grainy_output(setting.grainy)
    return OK


@router.post("/llm/script")
async def script_llm(script: LlmScriptItems, emu: Emulator) -> dict[str, bool]:
    emu.script_llm(*script.items)
    return OK


@router.get("/llm/calls")
async def llm_calls(emu: Emulator) -> list[LlmCall]:
    return emu.llm_calls


@router.get("/submits")
async def submits(emu: Emulator, model: str | None = None, key: str | None = None) -> list[SubmitRecord]:
    return emu.submits(model=model, key=key)


@router.get("/cancels")
async def cancels(emu: Emulator) -> list[CancelRecord]:
    return emu.recorder.cancels


@router.get("/stats")
async def stats(emu: Emulator) -> Stats:
    return Stats(
        by_model=emu.submit_counts_by_model(),
        by_key=emu.submit_counts_by_key(),
        concurrency=emu.recorder.all_concurrency(),
        status_polls=emu.status_polls(),
    )


@router.post("/concurrency/reset")
async def reset_concurrency(emu: Emulator) -> dict[str, bool]:
    emu.reset_concurrency()
    return OK


@router.get("/webhooks")
async def webhooks(emu: Emulator) -> list[WebhookDelivery]:
    return emu.webhook_deliveries
