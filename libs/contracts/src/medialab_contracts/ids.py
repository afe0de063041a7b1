"""Identifiers: short enough for Telegram callback data (≤ 64 bytes), random enough never to clash."""

import secrets
import uuid

JOB_ID_PATTERN = r"^[0-9a-f]{32}$"


def new_job_id() -> str:
    return uuid.uuid4().hex


def new_trace_id() -> str:
    return secrets.token_hex(8)


def new_request_id() -> str:
    return uuid.uuid4().hex
