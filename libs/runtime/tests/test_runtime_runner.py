"""A provider runner's skeleton: its settings, its job intake in the service lifecycle, its entry point."""

from __future__ import annotations

import asyncio

import pytest
from medialab_contracts import subjects
from medialab_contracts.catalog import default_catalog
from medialab_contracts.events import JobSucceeded
from medialab_contracts.jobs import JobRequest
from medialab_contracts.modes import Mode, Runner
from medialab_contracts.signing import JOB_SIGNATURE_HEADER, sign_job
from medialab_devstack.in_process import InProcessServices
from medialab_devstack.job_bus import JobBus
from medialab_runtime.jobs import JobControl, JobHandler, JobResult
from medialab_runtime.provisioning import LayoutConfig
from medialab_runtime.runner import RunnerJobs, RunnerSettings, run_runner
from medialab_runtime.service import ServiceContext, run_service
from medialab_runtime.settings import UnsafeSettingsError
from nats.js.errors import NotFoundError
from pydantic import ValidationError

DURABLE = "probe-runner"
SIGNING_KEY = "0123456789abcdef" * 4


def make_job() -> JobRequest:
    """A job of the catalog's text model: the probe runner below consumes ``jobs.text.>``."""
    return default_catalog().by_key("txt").job(Mode.text, 7, 7)


def settings(nats_url: str, **overrides: object) -> RunnerSettings:
    values: dict[str, object] = {"nats_url": nats_url, "http_port": 0, "log_format": "text"}
    return RunnerSettings(_env_file=None, **{**values, **overrides})  # type: ignore[arg-type]


def probe_setup(handler: JobHandler, between: list[str]):
    """A runner with nothing but its job intake, and one cleanup registered between the two steps."""

    async def setup(ctx: ServiceContext) -> None:
        assert isinstance(ctx.settings, RunnerSettings)
        jobs = await RunnerJobs.open(ctx, ctx.settings, Runner.text, DURABLE, handler)

        async def cleanup() -> None:
            between.append("between")

        ctx.on_shutdown(cleanup)
        await jobs.start()

    return setup


def test_runner_settings_read_their_variables_with_these_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    defaults = RunnerSettings(_env_file=None)
    assert (
        defaults.slot_lease_s,
        defaults.slot_poll_s,
        defaults.consumer_concurrency,
        defaults.ack_wait_s,
        defaults.max_deliver,
    ) == (30.0, 1.0, 32, 30.0, 5)
    for variable, value in [
        ("SLOT_LEASE_S", "12"),
        ("MEDIA_TTL_S", "3600"),
        ("EVENTS_MAX_AGE_S", "7200"),
        ("MAX_DELIVER", "7"),
    ]:
        monkeypatch.setenv(variable, value)
    configured = RunnerSettings(_env_file=None)
    assert configured.max_deliver == 7
    # The slot lease is the TTL of the slots bucket this runner creates when it is the first one up.
    assert configured.layout() == LayoutConfig(media_ttl_s=3600, events_max_age_s=7200, slots_ttl_s=12)


async def test_runner_jobs_consume_with_the_settings_of_the_runner(nats_url: str) -> None:
    async def succeed(job: JobRequest, control: JobControl) -> JobResult:
        return control.succeeded([], text="done")

    async with (
        JobBus.connect(nats_url, LayoutConfig()) as bus,
        InProcessServices(bus.nc.jetstream()) as services,
    ):
        runner = settings(nats_url, ack_wait_s=7, max_deliver=3, consumer_concurrency=4)
        await services.start_consumer("probe-runner", runner, probe_setup(succeed, []), DURABLE)
        info = await bus.nc.jetstream().consumer_info(subjects.JOBS_STREAM, DURABLE)
        assert info.config.filter_subject == "jobs.text.>"
        assert (info.config.ack_wait, info.config.max_deliver) == (7, 3)
        final = await bus.run(make_job(), timeout=10)
        assert isinstance(final, JobSucceeded) and final.text == "done"


def test_the_job_signing_key_is_read_checked_and_required_in_production(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert RunnerSettings(_env_file=None).job_signing_secret is None
    monkeypatch.setenv("JOB_SIGNING_KEY", "")  # the line of .env.example left empty: no key
    assert RunnerSettings(_env_file=None).job_signing_key is None
    monkeypatch.setenv("JOB_SIGNING_KEY", SIGNING_KEY)
    assert RunnerSettings(_env_file=None).job_signing_secret == SIGNING_KEY.encode()
    monkeypatch.setenv("JOB_SIGNING_KEY", "short-key")
    with pytest.raises(ValidationError, match="at least 32 characters"):
        RunnerSettings(_env_file=None)
    monkeypatch.delenv("JOB_SIGNING_KEY")

    RunnerSettings(_env_file=None, environment="development").check_production()  # a warning only
    RunnerSettings(_env_file=None, environment="production", nats_replicas=3, job_signing_key=SIGNING_KEY)
    with pytest.raises(UnsafeSettingsError, match="without JOB_SIGNING_KEY"):
        RunnerSettings(_env_file=None, environment="production", nats_replicas=3).check_production()


async def test_a_job_consumer_in_production_without_the_key_does_not_start() -> None:
    async def setup(_ctx: ServiceContext) -> None:
        raise AssertionError("setup must not run")

    bare = settings("nats://127.0.0.1:1", environment="production", nats_replicas=3)
    with pytest.raises(SystemExit, match="probe-runner: ENVIRONMENT=production without JOB_SIGNING_KEY"):
        await run_service("probe-runner", bare, setup)


async def test_runner_jobs_with_a_key_run_only_signed_jobs(nats_url: str) -> None:
    async def succeed(job: JobRequest, control: JobControl) -> JobResult:
        return control.succeeded([], text="done")

    async with (
        JobBus.connect(nats_url, LayoutConfig()) as bus,
        InProcessServices(bus.nc.jetstream()) as services,
    ):
        runner = settings(nats_url, job_signing_key=SIGNING_KEY, consumer_concurrency=1)
        await services.start_consumer("probe-runner", runner, probe_setup(succeed, []), DURABLE)
        unsigned, signed = make_job(), make_job()
        await bus.publish(unsigned)  # as the test harnesses queue jobs: unsigned
        body = signed.model_dump_json().encode()
        signature = sign_job(SIGNING_KEY.encode(), body)
        await bus.nc.jetstream().publish(signed.subject, body, headers={JOB_SIGNATURE_HEADER: signature})
        final = await bus.wait_final(signed.job_id, timeout=10)
        assert isinstance(final, JobSucceeded)
        assert bus.events.get(unsigned.job_id) is None
        with pytest.raises(NotFoundError):  # the unsigned job (the stream's first message) was termed
            await bus.nc.jetstream().get_msg(subjects.JOBS_STREAM, 1)


async def test_on_shutdown_jobs_stop_before_what_was_added_between_the_steps(nats_url: str) -> None:
    order: list[str] = []
    running = asyncio.Event()

    async def hang(job: JobRequest, control: JobControl) -> JobResult:
        running.set()
        try:
            await asyncio.sleep(3600)
        finally:
            order.append("job ended")
        raise AssertionError("unreachable")

    async with JobBus.connect(nats_url, LayoutConfig()) as bus:
        async with InProcessServices(bus.nc.jetstream()) as services:
            runner = settings(nats_url, shutdown_grace_s=0.2)
            await services.start_consumer("probe-runner", runner, probe_setup(hang, order), DURABLE)
            await bus.publish(make_job())
            await asyncio.wait_for(running.wait(), 10)
    # The job had its grace, was handed back, and only then did the later-added cleanup run.
    assert order == ["job ended", "between"]


def test_unusable_keys_end_the_process_with_status_2_before_it_starts(
    capsys: pytest.CaptureFixture[str],
) -> None:
    started: list[ServiceContext] = []

    async def setup(ctx: ServiceContext) -> None:
        started.append(ctx)

    def check_keys() -> None:
        raise KeyError("entry 2 has no secret")

    with pytest.raises(SystemExit) as exited:
        run_runner(
            "probe-runner",
            RunnerSettings(_env_file=None),
            setup,
            dist="medialab-probe",
            check_keys=check_keys,
            key_error=KeyError,
            key_hint="bad PROBE_KEYS: ",
        )
    assert exited.value.code == 2 and started == []
    assert capsys.readouterr().err == "probe-runner: bad PROBE_KEYS: 'entry 2 has no secret'\n"
