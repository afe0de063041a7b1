"""The emulator's state and behaviour: accounts, tasks, media, faults and records.

``server.WaveSpeedEmulator`` serves it over HTTP; the route modules take it from the app's state.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit

from medialab_sandbox.wavespeed.accounts import Account
from medialab_sandbox.wavespeed.codes import AccountLevel, AccountLimits
from medialab_sandbox.wavespeed.config import EmulatorConfig
from medialab_sandbox.wavespeed.control_models import AccountState, EmulatorState, TaskView
from medialab_sandbox.wavespeed.faults import FaultPlan, TaskFailure
from medialab_sandbox.wavespeed.records import Recorder
from medialab_sandbox.wavespeed.tasks import Task, TaskEngine
from medialab_sandbox.wavespeed.uploads import MediaStore


class WaveSpeedBackend:
    """A WaveSpeed v3 API, without the HTTP server.

    Each key in `api_keys` is an account of its own, named after the key; `accounts` maps an
    account name to several keys that share its limits. Limits come from `level` unless
    `max_concurrency` / `starts_per_minute` say otherwise.
    """

    def __init__(
        self,
        api_keys: Iterable[str] = (),
        *,
        accounts: Mapping[str, Iterable[str]] | None = None,
        level: AccountLevel = AccountLevel.SILVER,
        max_concurrency: int | None = None,
        starts_per_minute: int | None = None,
        config: EmulatorConfig | None = None,
    ) -> None:
        # A private copy: knobs change it at run time, and callers may reuse their config.
        self.config = (config or EmulatorConfig()).model_copy()
        self.records = Recorder()
        self.faults = FaultPlan()
        self.media = MediaStore()
        self.engine = TaskEngine(self.config, self.records, self.media)
        limits = _override(level.limits, max_concurrency, starts_per_minute)
        key_sets = {key: [key] for key in api_keys}
        key_sets.update({name: list(keys) for name, keys in (accounts or {}).items()})
        if not any(key_sets.values()):
            raise ValueError("the emulator needs at least one API key")
        self._initial_config = self.config.model_copy()
        self._initial_limits = limits
        self._accounts = {name: Account(name, limits) for name in key_sets}
        self._by_key = {key: self._accounts[name] for name, keys in key_sets.items() for key in keys}
        self._port: int | None = None  # where it is served, once it is

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("emulator not started")
        return self._port

    # -- accounts ----------------------------------------------------------------------------

    def account_for_key(self, key: str) -> Account | None:
        return self._by_key.get(key)

    @property
    def account_names(self) -> list[str]:
        return list(self._accounts)

    def set_limits(
        self,
        account: str | None = None,
        *,
        max_concurrency: int | None = None,
        starts_per_minute: int | None = None,
    ) -> None:
        """Change limits of one account (or all); raising concurrency starts queued tasks."""
        targets = [self._accounts[account]] if account is not None else self._accounts.values()
        for acct in targets:
            acct.set_limits(_override(acct.limits, max_concurrency, starts_per_minute))

    def own_hosts(self, request_netloc: str) -> frozenset[str]:
        """host:port forms under which input URLs point back at this emulator."""
        hosts = {request_netloc.lower()}
        if self._port is not None:
            hosts |= {f"127.0.0.1:{self._port}", f"localhost:{self._port}"}
        if self.config.public_url:
            hosts.add(urlsplit(self.config.public_url).netloc.lower())
        return frozenset(hosts)

    # -- knobs -------------------------------------------------------------------------------

    def configure(self, **changes: Any) -> None:
        """Change config fields at run time (validated as a whole before anything changes)."""
        patched = self.config.patched(changes)
        for name in changes:
            setattr(self.config, name, getattr(patched, name))

    def hold(self) -> None:
        """Processing tasks do not finish until `release()`: freezes the concurrency picture."""
        self.engine.hold()

    def release(self) -> None:
        self.engine.release()

    def fail_task(self, task_id: str, code: int, message: str | None = None) -> bool:
        """Make one running or queued task end `failed`; False if unknown or already over."""
        return self.engine.fail(task_id, TaskFailure(code=code, message=message))

    async def reset(self) -> None:
        """Back to just after start: no tasks, media, records or faults; initial config and limits.

        Running tasks are cancelled and hanging requests let go, so a test starts clean.
        """
        await self.engine.reset()
        self.media.clear()
        self.records.clear()
        self.faults.clear()
        self.configure(**self._initial_config.model_dump())
        for account in self._accounts.values():
            account.set_limits(self._initial_limits)
            account.clear_starts()

    # -- views -------------------------------------------------------------------------------

    def task(self, task_id: str) -> TaskView | None:
        task = self.engine.tasks.get(task_id)
        return None if task is None else _view(task)

    def tasks(self) -> list[TaskView]:
        return [_view(task) for task in self.engine.tasks.values()]

    def state(self) -> EmulatorState:
        return EmulatorState(
            config=self.config,
            accounts={
                name: AccountState(
                    limits=acct.limits,
                    processing=self.records.processing_now(name),
                    max_processing_seen=self.records.max_processing_seen(name),
                    queued=acct.slots.waiting,
                )
                for name, acct in self._accounts.items()
            },
            processing=self.records.processing_now(),
            max_processing_seen=self.records.max_processing_seen(),
            held=self.engine.held,
            counts=dict(self.records.counts),
            pending=self.faults.pending(),
        )


def _override(
    limits: AccountLimits, max_concurrency: int | None, starts_per_minute: int | None
) -> AccountLimits:
    return AccountLimits(
        max_concurrency=limits.max_concurrency if max_concurrency is None else max_concurrency,
        starts_per_minute=limits.starts_per_minute if starts_per_minute is None else starts_per_minute,
    )


def _view(task: Task) -> TaskView:
    return TaskView(
        id=task.id,
        account=task.account,
        model=task.model,
        status=task.status,
        code=task.code,
        error=task.error,
        outputs=task.outputs,
        body=task.body,
        created_at=task.created_mono,
        started_at=task.started_mono,
        finished_at=task.finished_mono,
    )
