"""Key lists grouped by account (medialab_runtime.provider_keys): forms, limits, errors without secrets."""

from __future__ import annotations

import pytest
from medialab_runtime.provider_keys import (
    Account,
    KeySpecError,
    ProviderKey,
    fingerprint,
    parse_account_limits,
    parse_accounts,
)

SECRET_A = "key-a:secret-aaaaaaaa"
SECRET_B = "key-b:secret-bbbbbbbb"
SECRET_C = "key-c:secret-cccccccc"


def test_named_entries_group_keys_by_account_and_plain_ones_are_their_own() -> None:
    accounts = parse_accounts(f" main={SECRET_A} , main={SECRET_B}@10, {SECRET_C} ", 2)
    shapes = [(a.name, a.limit, len(a.keys)) for a in accounts]
    assert shapes == [("main", 10, 2), (fingerprint(SECRET_C), 2, 1)]
    assert accounts[0].keys[1].secret.get_secret_value() == SECRET_B
    assert {key.account for key in accounts[0].keys} == {"main"}


def test_json_entries_and_account_limits_override_the_default() -> None:
    raw = (
        f'[{{"key": "{SECRET_A}", "account": "main"}},'
        f' {{"key": "{SECRET_B}", "account": "spare", "limit": 3}}]'
    )
    accounts = parse_accounts(raw, 2, parse_account_limits("main=40"))
    assert [(a.name, a.limit) for a in accounts] == [("main", 40), ("spare", 3)]
    assert parse_account_limits('{"main": 12}') == {"main": 12}
    assert parse_accounts("", 2) == []
    # A secret with an '@' that is not a limit stays whole; the old plain form still parses.
    assert parse_accounts("id:se@cret", 2)[0].keys[0].secret.get_secret_value() == "id:se@cret"
    assert parse_accounts(f"{SECRET_A}@12", 2)[0].limit == 12


@pytest.mark.parametrize(
    ("raw", "limits"),
    [
        (f"{SECRET_A}@0", ""),
        ("[1]", ""),
        (f'[{{"key": "{SECRET_A}", "limit": "x"}}]', ""),
        ("[oops", ""),
        (f"{SECRET_A},{SECRET_A}", ""),
        (f"main={SECRET_A}@2,main={SECRET_B}@3", ""),
        (f'[{{"key": "{SECRET_A}", "account": "bad name"}}]', ""),
        (f"main={SECRET_A}", "other=3"),
        (f"main={SECRET_A}", "main=x"),
    ],
)
def test_errors_never_show_the_secret(raw: str, limits: str) -> None:
    with pytest.raises(KeySpecError) as error:
        parse_accounts(raw, 2, parse_account_limits(limits))
    assert "aaaa" not in str(error.value) and "bbbb" not in str(error.value)


def test_fingerprint_is_short_and_hides_the_secret() -> None:
    key = ProviderKey.of(SECRET_A)
    assert len(key.fingerprint) == 12 and "aaaa" not in key.fingerprint
    assert key.account == key.fingerprint == fingerprint(SECRET_A)
    single = Account.single(SECRET_A, 2)
    assert single.name == key.fingerprint and single.keys == (key,)
    assert "aaaa" not in repr(single)
