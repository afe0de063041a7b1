"""wavespeed-runner configuration, from the environment (``WAVESPEED_API_KEY``, ...)."""

from __future__ import annotations

from medialab_runtime.output_hosts import HostAllowList
from medialab_runtime.provider_keys import Account
from medialab_runtime.runner import RunnerSettings
from medialab_runtime.start_rate import StartRate
from pydantic import Field, SecretStr, model_validator

from wavespeed_runner.api import OUTPUT_HOSTS

FACE_SWAP_MODEL = "wavespeed-ai/image-face-swap"


class MissingApiKey(ValueError):
    """``WAVESPEED_API_KEY`` is not set."""


class WaveSpeedRunnerSettings(RunnerSettings):
    wavespeed_api_key: SecretStr = SecretStr("")
    wavespeed_api_base: str = "https://api.wavespeed.ai"
    # The model face-swap jobs run on; the `-pro` sibling takes the same fields.
    wavespeed_model: str = FACE_SWAP_MODEL
    # The account level's limits (docs: account-levels; Bronze 2 and 2/min, Silver 300 and 500/min),
    # enforced over every replica. In progress: tasks submitted and not yet final (provider slots);
    # WaveSpeed would queue the ones beyond its concurrency, and a queued task still ties up a job.
    wavespeed_max_in_progress: int = Field(default=2, ge=1, le=10_000)
    # Task starts (submits) per window; WaveSpeed refuses the ones beyond with 429. The window is a
    # minute plus a margin for the way from taking a start here to WaveSpeed's clock.
    wavespeed_starts_per_minute: int = Field(default=2, ge=1, le=100_000)
    wavespeed_start_window_s: float = Field(default=61.0, gt=0)
    # A submit whose answer was lost (read timeout, 5xx) is looked up in the prediction list this
    # many times, this far apart, before it is sent again (absent) or the job fails uncharged.
    wavespeed_lookup_attempts: int = Field(default=3, ge=1)
    wavespeed_lookup_grace_s: float = Field(default=2.0, ge=0)
    # Result polls: never closer than the interval (WaveSpeed asks for ≥ 2 s on image tasks), then
    # every ``ratio × elapsed`` up to the max, so long tasks are polled less often.
    wavespeed_poll_interval_s: float = Field(default=2.0, gt=0)
    wavespeed_poll_max_s: float = Field(default=10.0, gt=0)
    wavespeed_poll_ratio: float = Field(default=0.1, gt=0, le=1)
    # 429 / 5xx / network errors: exponential backoff with full jitter, within the job's deadline.
    wavespeed_retry_base_s: float = Field(default=1.0, gt=0)
    wavespeed_retry_max_s: float = Field(default=15.0, gt=0)
    wavespeed_max_attempts: int = Field(default=8, ge=1)
    # A task that fails with a 5xxx code (WaveSpeed's side) is submitted again, up to this many tasks.
    wavespeed_task_attempts: int = Field(default=3, ge=1)
    wavespeed_http_timeout_s: float = Field(default=30.0, gt=0)
    wavespeed_max_output_bytes: int = Field(default=64 * 1024 * 1024, ge=1024)
    # Hosts outputs may be fetched from (``host`` or ``*.domain``, comma list); any other URL in an
    # answer fails the job unfetched. Dev and tests set the emulator's host.
    wavespeed_output_hosts: str = OUTPUT_HOSTS

    @model_validator(mode="after")
    def _poll_bounds(self) -> WaveSpeedRunnerSettings:
        if self.wavespeed_poll_max_s < self.wavespeed_poll_interval_s:
            raise ValueError("WAVESPEED_POLL_MAX_S must not be below WAVESPEED_POLL_INTERVAL_S")
        return self

    def account(self) -> Account:
        """The account's key with its slot count; raises ``MissingApiKey`` when unset.

        One key only: WaveSpeed's limits are per account, so pooling keys of one account would not
        add capacity, and each key's slots would overstate it.
        """
        secret = self.wavespeed_api_key.get_secret_value().strip()
        if not secret:
            raise MissingApiKey("WAVESPEED_API_KEY is empty")
        return Account.single(secret, self.wavespeed_max_in_progress)

    def output_hosts(self) -> HostAllowList:
        return HostAllowList.parse(self.wavespeed_output_hosts)

    def start_rate(self) -> StartRate:
        return StartRate(self.wavespeed_starts_per_minute, self.wavespeed_start_window_s)
