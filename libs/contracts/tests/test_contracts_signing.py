import hashlib
import hmac

from medialab_contracts.catalog import default_catalog
from medialab_contracts.modes import Mode
from medialab_contracts.signing import job_signature_valid, sign_job

KEY = b"k" * 64
OTHER_KEY = b"o" * 64


def job_bytes() -> bytes:
    job = default_catalog().by_key("nb").job(Mode.create, user_id=7, chat_id=7, prompt="кот")
    return job.model_dump_json().encode()


def test_a_signature_is_the_hex_hmac_sha256_of_the_exact_bytes() -> None:
    body = job_bytes()
    signature = sign_job(KEY, body)
    assert signature == hmac.new(KEY, body, hashlib.sha256).hexdigest()
    assert job_signature_valid(KEY, body, signature)


def test_a_changed_body_another_key_or_a_missing_signature_is_refused() -> None:
    body = job_bytes()
    signature = sign_job(KEY, body)
    tampered = body.replace(b'"price":800', b'"price":1')
    assert tampered != body
    assert not job_signature_valid(KEY, tampered, signature)
    assert not job_signature_valid(KEY, body + b" ", signature)  # the bytes, not the parsed job
    assert not job_signature_valid(OTHER_KEY, body, signature)
    assert not job_signature_valid(KEY, body, sign_job(OTHER_KEY, body))
    assert not job_signature_valid(KEY, body, None)
    assert not job_signature_valid(KEY, body, "")
    assert not job_signature_valid(KEY, body, signature.upper())
    assert not job_signature_valid(KEY, body, "ё" * 64)  # not even hex: refused, no exception
