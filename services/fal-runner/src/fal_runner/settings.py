"""fal-runner configuration, from the environment (``FAL_KEYS``, ``FAL_QUEUE_BASE``, ...)."""

from __future__ import annotations

from medialab_runtime.output_hosts import HostAllowList
from medialab_runtime.provider_keys import Account, KeySpecError, parse_account_limits, parse_accounts
from medialab_runtime.runner import RunnerSettings
from pydantic import Field, SecretStr

from fal_runner.fal_api import OUTPUT_HOSTS


class FalRunnerSettings(RunnerSettings):
    # Keys grouped by account: ``acct=id:secret`` (``@N`` gives the account its limit), a plain
    # ``id:secret`` is an account of its own; comma list or JSON list (docs/provider-slots.md).
    fal_keys: SecretStr = SecretStr("")
    # fal counts requests in progress per account: 2 for a new account, rising to 40 with purchases.
    fal_concurrency_per_account: int = Field(default=2, ge=1, le=1000)
    # Per-account limits: ``acct=10,other=40`` or a JSON object; overrides the default and ``@N``.
    fal_account_limits: str = ""
    # A key fal refuses (401, or 403 "User is locked") stays out of the rotation this long.
    fal_key_cooldown_s: float = Field(default=300.0, ge=1)
    fal_queue_base: str = "https://queue.fal.run"
    fal_rest_base: str = "https://rest.fal.ai"
    # Status polls: right after submit, then every max(min, ratio × age) up to max: never more often
    # than fal's own client (0.1 s), and ever sparser as a request ages.
    fal_poll_min_s: float = Field(default=0.1, ge=0.1)
    fal_poll_max_s: float = Field(default=2.0, gt=0)
    fal_poll_ratio: float = Field(default=0.1, gt=0, le=1)
    # ❌ Отменить on a job already at fal (the operator's choice, ARCHITECTURE.md "Cancelling a job"):
    # true: its request is cancelled at fal and, if fal ends it without a result, the hold is released
    # (fal runs a queued request never; a running one is stopped by its app, and fal does not say
    # whether it bills that); one fal completed anyway is charged and delivered. false: it runs to its
    # end, charged and delivered; only jobs still waiting in our queue are cancelled.
    fal_cancel_running: bool = True
    # Lifetime of our uploads and of the outputs on fal's CDN (public URLs): users' faces must not stay.
    fal_object_expiry_s: int = Field(default=86_400, ge=1)
    # 429 / 5xx / network errors: exponential backoff with full jitter, bounded by the deadline.
    fal_retry_base_s: float = Field(default=0.2, gt=0)
    fal_retry_max_s: float = Field(default=5.0, gt=0)
    fal_max_attempts: int = Field(default=8, ge=1)
    fal_http_timeout_s: float = Field(default=30.0, gt=0)
    fal_max_output_bytes: int = Field(default=64 * 1024 * 1024, ge=1024)
    # Hosts outputs may be fetched from (``host`` or ``*.domain``, comma list); any other URL in an
    # answer fails the job unfetched. Dev and tests set the emulator's host.
    fal_output_hosts: str = OUTPUT_HOSTS

    def output_hosts(self) -> HostAllowList:
        return HostAllowList.parse(self.fal_output_hosts)

    def provider_accounts(self) -> list[Account]:
        """The parsed accounts; raises ``KeySpecError`` (never showing a key) when malformed or empty."""
        limits = parse_account_limits(self.fal_account_limits)
        accounts = parse_accounts(self.fal_keys.get_secret_value(), self.fal_concurrency_per_account, limits)
        if not accounts:
            raise KeySpecError("FAL_KEYS is empty")
        return accounts
