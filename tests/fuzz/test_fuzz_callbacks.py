"""Callback data is whatever a client sends (forged buttons included): every factory of the gateway,
fuzzed.

aiogram's ``CallbackData.filter`` treats ``TypeError`` and ``ValueError`` (pydantic's errors are
ValueErrors) from ``unpack`` as "not this button"; anything else would escape into the dispatcher.
What unpacks must pack back to the same data within Telegram's 64 bytes, so a forged value can never
become a button the bot itself would fail to send.
"""

from __future__ import annotations

import pytest
from aiogram.filters.callback_data import CallbackData
from gateway_bot import callbacks
from hypothesis import given, settings
from hypothesis import strategies as st

FACTORIES: list[type[CallbackData]] = [
    callbacks.NavCb,
    callbacks.ModelCb,
    callbacks.FormatCb,
    callbacks.RetouchCb,
    callbacks.ResultCb,
    callbacks.RephraseCb,
    callbacks.HistoryCb,
]
PREFIXES = [factory.__prefix__ for factory in FACTORIES]
MAX_CALLBACK_BYTES = 64

field_values = st.one_of(
    st.text(max_size=40),
    st.integers(-(10**30), 10**30).map(str),
    st.sampled_from(
        ["c", "s", "e", "u", "vertical", "square", "enh", "soft", "", "0", "-1", "1e3", "nan", "٣"]
    ),
)


@st.composite
def callback_strings(draw: st.DrawFn) -> str:
    prefix = draw(st.one_of(st.sampled_from(PREFIXES), st.text(max_size=4)))
    fields = draw(st.lists(field_values, max_size=5))
    return ":".join([prefix, *fields])


@pytest.mark.parametrize("factory", FACTORIES, ids=lambda f: f.__name__)
@settings(max_examples=400, deadline=None)
@given(data=st.one_of(callback_strings(), st.text(max_size=64)))
def test_unpack_refuses_with_the_filter_errors_or_round_trips(factory: type[CallbackData], data: str) -> None:
    try:
        parsed = factory.unpack(data)
    except (TypeError, ValueError):
        return
    packed = parsed.pack()
    assert factory.unpack(packed) == parsed
    assert len(packed.encode()) <= MAX_CALLBACK_BYTES or len(data.encode()) > MAX_CALLBACK_BYTES
