"""What users type, fuzzed: the extended create form, /add_balance and /status arguments.

Each parser either answers with a value that is safe to use as it is (it builds a valid ``JobRequest``
or ``TopupRequest``) or refuses with the gateway's ``InputRejected`` — which the errors router words
in Russian, before anything is reserved. Any other exception would reach the user as "internal error".
The parsers are pure: a refusal changes nothing, and the same text always gets the same answer.
"""

from __future__ import annotations

import string

from gateway_bot.failures import InputRejected
from gateway_bot.parsing import (
    EXTENDED_KEYS,
    parse_add_balance,
    parse_extended,
    parse_job_id,
)
from hypothesis import example, given, settings
from hypothesis import strategies as st
from medialab_contracts.billing import TopupRequest
from medialab_contracts.catalog import default_catalog
from medialab_contracts.jobs import JobRequest
from medialab_contracts.modes import Mode

CATALOG = default_catalog()
ALIASES = sorted({a for m in CATALOG.text_to_image() for a in (m.key, m.model_id, *m.aliases)})

# Digits as people (and keyboards of other scripts) type them: ASCII, full-width, Arabic-Indic,
# superscripts, and look-alikes of the separators.
DIGITS = "0123456789０１２３٣٤²³¹"
numbers = st.text(alphabet=DIGITS, min_size=1, max_size=7)
signs = st.sampled_from(["", "-", "+", "−"])
amount_texts = st.one_of(
    st.builds(
        lambda s, a, sep, b, tail: f"{s}{a}{sep}{b}{tail}",
        signs,
        numbers,
        st.sampled_from(["", ",", "."]),
        st.text(alphabet=DIGITS, max_size=4),
        st.sampled_from(["", "₽", " ₽", "e5", "e-9", "E999999"]),
    ),
    st.sampled_from(["NaN", "sNaN", "Infinity", "-inf", "1e999999", "1e-999999999", "0e5", "1_000", "٣٠٠"]),
    st.text(max_size=20),
)
sizes = st.one_of(
    st.builds(
        lambda w, x, h: f"{w}{x}{h}", numbers, st.sampled_from(["x", "х", "×", "*", "X", " x ", ":"]), numbers
    ),
    st.text(max_size=12),
)
ratios = st.one_of(st.builds(lambda a, b: f"{a}:{b}", numbers, numbers), st.text(max_size=8))
values = {
    "model": st.one_of(st.sampled_from(ALIASES), st.text(max_size=20)),
    "size": sizes,
    "aspect_ratio": ratios,
    "negative": st.text(max_size=60),
}
prompts = st.one_of(st.text(max_size=80), st.text(alphabet=" \t\n|=:—-", max_size=6))


@st.composite
def extended_forms(draw: st.DrawFn) -> str:
    head = draw(
        st.sampled_from(["Изображение", "изображение", "ИЗОБРАЖЕНИЕ", "  Изображение:", "Изображения"])
    )
    parts = [head + " " + draw(prompts)]
    for _ in range(draw(st.integers(0, 5))):
        key = draw(st.one_of(st.sampled_from(EXTENDED_KEYS), st.text(max_size=8)))
        value = draw(values.get(key, st.text(max_size=10)))
        parts.append(draw(st.sampled_from([f"{key}={value}", f" {key} = {value} ", f"{key}{value}", ""])))
    return "|".join(parts)


def job_of(text: str) -> JobRequest | None:
    """What the gateway builds from the form, or None when the form is refused."""
    try:
        form = parse_extended(text, CATALOG)
    except InputRejected:
        return None
    return form.model.job(
        Mode.create,
        1,
        1,
        prompt=form.prompt,
        negative_prompt=form.negative,
        size=form.size,
        aspect_ratio=form.aspect_ratio,
    )


@settings(max_examples=600, deadline=None)
@given(text=st.one_of(extended_forms(), st.text(max_size=200)))
@example("Изображение кот | size=٣٠٠x٤٠٠ | aspect_ratio=٣:٤")
@example("Изображение кот | size=0x0 | aspect_ratio=0:5")
@example("Изображение кот | model= | negative=")
def test_extended_form_is_refused_clearly_or_builds_a_valid_job(text: str) -> None:
    job = job_of(text)
    assert job_of(text) == job or job is not None  # deterministic (job ids differ, contents do not)
    if job is not None:
        assert job.prompt.strip() and job.model_id in {m.model_id for m in CATALOG.text_to_image()}


@settings(max_examples=600, deadline=None)
@given(
    args=st.one_of(
        amount_texts,
        st.builds(lambda u, a: f"{u} {a}", st.one_of(numbers, amount_texts), amount_texts),
        st.text(max_size=40),
        st.none(),
    )
)
@example("² 100")  # str.isdigit() says yes, int() says no
@example("1e999999")  # a Decimal past the context's exponent range
@example("1e-999999999")  # rounds to 0 kopecks
@example("1 1e-999999999")
def test_add_balance_is_refused_clearly_or_builds_a_valid_topup(args: str | None) -> None:
    try:
        topup = parse_add_balance(args)
    except InputRejected:
        return
    target = topup.target_user_id or 1
    TopupRequest(request_id="fuzz-request", admin_id=1, target_user_id=target, amount=topup.amount)


@settings(max_examples=300, deadline=None)
@given(
    args=st.one_of(st.text(alphabet=string.hexdigits + " \n", max_size=40), st.text(max_size=40), st.none())
)
def test_status_argument_is_refused_clearly_or_a_job_id(args: str | None) -> None:
    try:
        job_id = parse_job_id(args)
    except InputRejected:
        return
    JobRequest(
        job_id=job_id,
        user_id=1,
        chat_id=1,
        mode=Mode.upscale,
        runner="fal",
        model_key="ups",
        model_id="m",
        price=1,
    )
