"""Billing's signature on a job: runners run only the jobs billing reserved (issue 17, "closed bus").

Only billing may publish to ``jobs.>``, yet nats-server lets any user that may create consumers on a
stream of its own create a push consumer delivering that stream's messages to any subject
(``deliver_subject``, nats-server issue #8274), and the JOBS stream stores what arrives on
``jobs.>``. Permissions alone cannot keep an unpaid job off the queue, so billing signs every job it
queues and the job consumers run only jobs with a valid signature.

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
