"""The NATS authorization generated from deploy/nats/permissions.yaml: current, closed, complete."""

from __future__ import annotations

import re

from medialab_devstack import nats_auth
from medialab_devstack.stack import SERVICE_MODULES
from medialab_runtime.provisioning import SERVICE_LAYOUT


def test_generated_configs_are_up_to_date() -> None:
    expected = nats_auth.render(nats_auth.load())
    for path in nats_auth.GENERATED_FILES:
        assert path.read_text() == expected, f"{path} is stale: run `python -m medialab_devstack.nats_auth`"


def test_no_anonymous_access_and_every_user_has_a_password_from_the_environment() -> None:
    lines = nats_auth.GENERATED_FILES[0].read_text().splitlines()
    text = "\n".join(line for line in lines if not line.lstrip().startswith("#"))
    config = nats_auth.load()
    assert "no_auth_user" not in text
    assert "accounts" not in text
    users = re.findall(r'\{user: "([^"]+)", password: \$(\w+)', text)
    assert users == [(user, nats_auth.password_variable(user)) for user in config.users]


def test_every_service_has_its_own_user_and_only_the_admin_has_everything() -> None:
    config = nats_auth.load()
    assert set(SERVICE_MODULES) <= set(config.users)
    admins = [user for user, perms in config.users.items() if perms.admin]
    assert admins == [nats_auth.ADMIN_USER]
    for user, perms in config.users.items():
        if perms.admin:
            continue
        allowed = nats_auth.publish_allow(user, perms) + nats_auth.subscribe_allow(user, perms)
        assert not any(subject in (">", "$JS.API.>", "_INBOX.>", "$JS.>") for subject in allowed), user


def test_each_service_may_create_exactly_the_layout_it_creates_at_start() -> None:
    config = nats_auth.load()
    for service, layout in SERVICE_LAYOUT.items():
        perms = config.users[service]
        granted = {*perms.streams, *perms.kv, *perms.object_stores}
        assert layout <= granted, (service, layout - granted)


def test_only_billing_and_the_gateway_reach_money_subjects() -> None:
    config = nats_auth.load()
    topup = [user for user, p in config.users.items() if not p.admin and "billing.topup" in p.publish]
    assert topup == ["gateway-bot"]
    settle = [
        user
        for user, p in config.users.items()
        if not p.admin and {"billing.>", "billing.settle"} & set(p.publish)
    ]
    assert settle == []
