"""Billing's signature on a job: runners run only the jobs billing reserved (issue 17, "closed bus").

Only billing's NATS user may publish to ``jobs.>``, but permissions do not cover every way onto the
queue: billing's NATS password alone (leaked, without billing's process), an operator's admin tools,
or the server itself delivering past the permissions (a push consumer's ``deliver_subject``,
nats-server issue #8274). So billing signs every job it queues and the job consumers run only jobs
with a valid signature.

The signature is HMAC-SHA256 of the message's exact bytes under ``JOB_SIGNING_KEY``, a secret that
only billing and the job consumers hold, in hex in the ``Medialab-Job-Signature`` header.
"""

from __future__ import annotations

import hashlib
import hmac

JOB_SIGNATURE_HEADER = "Medialab-Job-Signature"


def sign_job(key: bytes, body: bytes) -> str:
    """The signature of a job message's ``body`` (hex HMAC-SHA256)."""
    return hmac.new(key, body, hashlib.sha256).hexdigest()


def job_signature_valid(key: bytes, body: bytes, signature: str | None) -> bool:
    """Whether ``signature`` is ``body``'s under ``key``; compared in constant time."""
    if not signature:
        return False
    return hmac.compare_digest(sign_job(key, body).encode(), signature.encode())
