"""wavespeed-runner configuration, from the environment (``WAVESPEED_API_KEY``, ...)."""

from __future__ import annotations

from medialab_runtime.runner import RunnerSettings
from medialab_runtime.slots import ProviderKey
from pydantic import Field, SecretStr, model_validator

FACE_SWAP_MODEL = "wavespeed-ai/image-face-swap"


class MissingApiKey(ValueError):
    """``WAVESPEED_API_KEY`` is not set."""


class WaveSpeedRunnerSettings(RunnerSettings):
    wavespeed_api_key: SecretStr = SecretStr("")
    wavespeed_api_base: str = "https://api.wavespeed.ai"
    # The model face-swap jobs run on; the `-pro` sibling takes the same fields.
    wavespeed_model: str = FACE_SWAP_MODEL
    # Tasks in flight at once, over every replica (provider slots). WaveSpeed queues tasks beyond the
    # account level's concurrency instead of refusing them, so this is our own cap: set it to the
    # level's figure (Bronze 2, Silver 300, ...) to keep WaveSpeed's queue empty.
    wavespeed_concurrency: int = Field(default=10, ge=1, le=10_000)
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

    @model_validator(mode="after")
    def _poll_bounds(self) -> WaveSpeedRunnerSettings:
        if self.wavespeed_poll_max_s < self.wavespeed_poll_interval_s:
            raise ValueError("WAVESPEED_POLL_MAX_S must not be below WAVESPEED_POLL_INTERVAL_S")
        return self

    def provider_key(self) -> ProviderKey:
        """The account's key with its slot count; raises ``MissingApiKey`` when unset.

        One key only: WaveSpeed's limits are per account, so pooling keys of one account would not
        add capacity, and each key's slots would overstate it.
        """
        secret = self.wavespeed_api_key.get_secret_value().strip()
        if not secret:
            raise MissingApiKey("WAVESPEED_API_KEY is empty")
        return ProviderKey.of(secret, self.wavespeed_concurrency)
