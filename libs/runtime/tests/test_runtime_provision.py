"""The operators' provisioning command brings existing streams to new settings; a service does not."""

from __future__ import annotations

import nats
import pytest
from medialab_contracts import subjects
from medialab_devstack.nats_server import NatsServer
from medialab_runtime.provision import provision
from medialab_runtime.provisioning import LayoutConfig, ensure_layout
from medialab_runtime.settings import ServiceSettings


async def test_services_keep_what_exists_and_provisioning_applies_new_settings(
    nats_server: NatsServer,
) -> None:
    admin = await nats.connect(nats_server.url)
    js = admin.jetstream()
    try:
        await ensure_layout(js, LayoutConfig(events_max_age_s=3600))
        # A service started with other settings keeps the stream as it is (no update right needed).
        await ensure_layout(js, LayoutConfig(events_max_age_s=7200), "billing")
        assert (await js.stream_info(subjects.EVENTS_STREAM)).config.max_age == 3600
        settings = ServiceSettings(
            _env_file=None, nats_url=nats_server.url, events_max_age_s=7200
        )  # the admin's URL carries its credentials
        await provision(settings)
        assert (await js.stream_info(subjects.EVENTS_STREAM)).config.max_age == 7200
    finally:
        await admin.close()


@pytest.mark.nats_violations
async def test_a_service_user_cannot_provision_changes(nats_server: NatsServer) -> None:
    admin = await nats.connect(nats_server.url)
    await ensure_layout(admin.jetstream(), LayoutConfig(events_max_age_s=3600))
    await admin.close()
    settings = ServiceSettings(
        _env_file=None,
        nats_url=nats_server.plain_url,
        nats_user="billing",
        nats_password=nats_server.passwords["billing"],
        events_max_age_s=7200,
    )
    with pytest.raises(Exception):  # noqa: B017 - the refused update times out in nats-py
        await provision(settings)
