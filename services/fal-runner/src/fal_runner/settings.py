"""fal-runner configuration, from the environment (``FAL_KEYS``, ``FAL_QUEUE_BASE``, ...)."""

from __future__ import annotations

from medialab_runtime.runner import RunnerSettings
from medialab_runtime.slots import KeySpecError, ProviderKey, parse_keys
from pydantic import Field, SecretStr


class FalRunnerSettings(RunnerSettings):
    # A pool of keys: comma list or JSON list; ``id:secret@12`` gives that key its own limit.
    fal_keys: SecretStr = SecretStr("")
    fal_concurrency_per_key: int = Field(default=10, ge=1, le=1000)
    # A key fal refuses (401/403: locked, no balance) stays out of the rotation this long.
    fal_key_cooldown_s: float = Field(default=300.0, ge=1)
    fal_queue_base: str = "https://queue.fal.run"
    fal_rest_base: str = "https://rest.fal.ai"
    # Status polls: right after submit, then every max(min, ratio × elapsed) up to max, so waiting
    # past completion costs about ratio/2 of a request's time whatever its length.
    fal_poll_min_s: float = Field(default=0.005, gt=0)
    fal_poll_max_s: float = Field(default=2.0, gt=0)
    fal_poll_ratio: float = Field(default=0.05, gt=0, le=1)
    # 429 / 5xx / network errors: exponential backoff with full jitter, bounded by the deadline.
    fal_retry_base_s: float = Field(default=0.2, gt=0)
    fal_retry_max_s: float = Field(default=5.0, gt=0)
    fal_max_attempts: int = Field(default=8, ge=1)
    fal_http_timeout_s: float = Field(default=30.0, gt=0)
    fal_max_output_bytes: int = Field(default=64 * 1024 * 1024, ge=1024)

    def provider_keys(self) -> list[ProviderKey]:
        """The parsed key pool; raises ``KeySpecError`` (never showing a key) when malformed or empty."""
        keys = parse_keys(self.fal_keys.get_secret_value(), self.fal_concurrency_per_key)
        if not keys:
            raise KeySpecError("FAL_KEYS is empty")
        return keys
