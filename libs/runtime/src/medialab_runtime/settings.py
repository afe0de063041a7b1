"""Settings every service shares; each service subclasses ``ServiceSettings`` with its own fields."""

from typing import Annotated, Literal

from pydantic import AfterValidator, BeforeValidator, Field, SecretStr
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from medialab_runtime.limits import (
    MAX_ALBUM_BYTES,
    MAX_IMAGE_PIXELS,
    MAX_INPUT_BYTES,
    MAX_OBJECT_BYTES,
    MAX_RESULT_PIXELS,
    ImageLimits,
)
from medialab_runtime.provisioning import GIB, LayoutConfig

MIB = 1024 * 1024
# Copies a production deployment keeps of every stream: one node of three may be lost.
PRODUCTION_REPLICAS = 3


def _telegram_ids(value: object) -> object:
    """``ADMIN_IDS`` as ``1,2``, ``1 2`` or ``[1, 2]``."""
    if isinstance(value, str):
        return frozenset(int(part) for part in value.strip().strip("[]").replace(",", " ").split())
    return value


# The Telegram ids of the admins: each service that checks admin rights reads its own ADMIN_IDS.
AdminIds = Annotated[frozenset[int], NoDecode, BeforeValidator(_telegram_ids)]


class UnsafeSettingsError(RuntimeError):
    """Settings that would run production unsafely; the message says which and how to proceed."""


# `openssl rand -hex 32` gives 64; a short key could be guessed from the signed jobs a runner sees.
MIN_JOB_SIGNING_KEY_CHARS = 32


def _blank_is_unset(value: object) -> object:
    """``JOB_SIGNING_KEY=`` (the line of .env.example left empty) is no key, not an empty one."""
    if isinstance(value, str) and not value.strip():
        return None
    return value


def _long_enough(value: SecretStr | None) -> SecretStr | None:
    if value is not None and len(value.get_secret_value()) < MIN_JOB_SIGNING_KEY_CHARS:
        raise ValueError(
            f"JOB_SIGNING_KEY must have at least {MIN_JOB_SIGNING_KEY_CHARS} characters "
            "(e.g. openssl rand -hex 32)"
        )
    return value


# The secret billing signs jobs with and job consumers check them with (medialab_contracts.signing).
JobSigningKey = Annotated[SecretStr | None, BeforeValidator(_blank_is_unset), AfterValidator(_long_enough)]


class ServiceSettings(BaseSettings):
    """Read from the environment (and ``.env``); nested models use ``__`` as the delimiter."""

    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", env_nested_delimiter="__", extra="ignore"
    )

    nats_url: str = "nats://127.0.0.1:4222"
    # The service's own NATS user (deploy/nats/permissions.yaml); the server refuses anonymous clients.
    nats_user: str | None = None
    nats_password: SecretStr | None = None
    # Copies of every JetStream stream, bucket and object store (the layout's ``replicas``): 1 on a
    # single nats-server, 3 on a three-node cluster. Provisioning scales existing streams to it.
    nats_replicas: int = Field(default=1, ge=1, le=5)
    # "production" refuses to start with fewer than PRODUCTION_REPLICAS copies (a lost node would take
    # queued jobs, conversations and money-relevant events with it) unless ALLOW_FEW_REPLICAS says so.
    environment: Literal["development", "production"] = "development"
    allow_few_replicas: bool = False
    http_host: str = "127.0.0.1"
    http_port: int = Field(default=8080, ge=0, le=65535)
    log_level: str = "INFO"
    log_format: str = Field(default="json", pattern="^(json|text)$")
    # Retention of the media object store, of job events and of per-job state (seconds).
    media_ttl_s: int = Field(default=7 * 24 * 3600, ge=60)
    events_max_age_s: int = Field(default=7 * 24 * 3600, ge=60)
    # Storage bounds (issue 17 item 4): the object stores' and streams' total bytes, one object's bytes,
    # and how long an upload no job took is kept (at most an hour).
    media_max_bytes: int = Field(default=4 * GIB, ge=MIB)
    media_max_object_bytes: int = Field(default=MAX_OBJECT_BYTES, ge=MIB)
    uploads_ttl_s: int = Field(default=3600, ge=60, le=3600)
    uploads_max_bytes: int = Field(default=1 * GIB, ge=MIB)
    stream_max_bytes: int = Field(default=GIB // 4, ge=MIB)
    # «🖼 Мои работы»: how long a delivered result and its record are kept, and the copies' total bytes.
    works_ttl_s: int = Field(default=30 * 24 * 3600, ge=60)
    works_max_bytes: int = Field(default=8 * GIB, ge=MIB)
    shutdown_grace_s: float = Field(default=20.0, ge=0)
    # Every image a service opens (issue 17 item 3): bytes and header pixels checked before decoding;
    # an album counts as a whole. Pillow's own guard is set to MAX_IMAGE_PIXELS at start.
    max_image_bytes: int = Field(default=MAX_INPUT_BYTES, ge=1024)  # Telegram's getFile limit
    max_image_pixels: int = Field(default=MAX_IMAGE_PIXELS, ge=4096)
    max_album_bytes: int = Field(default=MAX_ALBUM_BYTES, ge=1024)
    # A provider's result may be larger than any input (an ×2 upscale of 16 MP is 64 MP): Pillow's
    # guard is set to the larger of the two, inputs are checked against MAX_IMAGE_PIXELS explicitly.
    max_result_pixels: int = Field(default=MAX_RESULT_PIXELS, ge=4096)

    @property
    def decode_pixel_limit(self) -> int:
        """Pillow's own guard (``images.configure_pillow``), for services that open images."""
        return max(self.max_image_pixels, self.max_result_pixels)

    def check_production(self) -> None:
        """Raise ``UnsafeSettingsError`` for a production deployment without replicated streams."""
        if (
            self.environment == "production"
            and self.nats_replicas < PRODUCTION_REPLICAS
            and not self.allow_few_replicas
        ):
            raise UnsafeSettingsError(
                f"ENVIRONMENT=production with NATS_REPLICAS={self.nats_replicas}: every stream would keep "
                f"fewer than {PRODUCTION_REPLICAS} copies, and losing the nats-server that holds one loses "
                f"its queued jobs and conversations. Run a three-node NATS cluster with "
                f"NATS_REPLICAS={PRODUCTION_REPLICAS}, or set ALLOW_FEW_REPLICAS=true to accept that risk."
            )

    def layout(self) -> LayoutConfig:
        return LayoutConfig(
            replicas=self.nats_replicas,
            media_ttl_s=self.media_ttl_s,
            media_max_bytes=self.media_max_bytes,
            uploads_ttl_s=self.uploads_ttl_s,
            uploads_max_bytes=self.uploads_max_bytes,
            stream_max_bytes=self.stream_max_bytes,
            works_ttl_s=self.works_ttl_s,
            works_max_bytes=self.works_max_bytes,
            events_max_age_s=self.events_max_age_s,
        )

    @property
    def image_limits(self) -> ImageLimits:
        return ImageLimits(self.max_image_bytes, self.max_image_pixels, self.max_album_bytes)


class JobSigningSettings(ServiceSettings):
    """A service on either end of the JOBS stream: billing signs the jobs it queues, the job consumers
    run only signed ones. Both must hold the same ``JOB_SIGNING_KEY``."""

    # Unset: jobs are neither signed nor checked (a warning at start); production refuses to start.
    job_signing_key: JobSigningKey = None

    @property
    def job_signing_secret(self) -> bytes | None:
        return None if self.job_signing_key is None else self.job_signing_key.get_secret_value().encode()

    def check_production(self) -> None:
        """Besides the replicas: production never runs without the key, or a job put on JOBS past
        billing (billing's NATS password alone, an admin's ``nats pub``) would run unpaid."""
        super().check_production()
        if self.environment == "production" and self.job_signing_key is None:
            raise UnsafeSettingsError(
                "ENVIRONMENT=production without JOB_SIGNING_KEY: jobs on the JOBS stream would run "
                "unchecked, and a job queued past billing would run unpaid. Give billing and every job "
                "consumer (fal-runner, wavespeed-runner, text-render, prompt-llm) the same key, e.g. "
                "`openssl rand -hex 32`."
            )
