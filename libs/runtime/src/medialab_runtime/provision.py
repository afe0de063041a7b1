"""``python -m medialab_runtime.provision``: bring the whole JetStream layout to the settings, as the admin.

Services create only what is missing of their part and never change what exists (their NATS users may
not update streams: provisioning.py says why). A change of caps, TTLs or ``NATS_REPLICAS`` on a running
deployment is applied by this command, run with the admin user (``NATS_USER=medialab-admin`` and its
password) and the same layout settings as the services (``MEDIA_TTL_S``, ``NATS_REPLICAS``, …).
"""

from __future__ import annotations

import asyncio
import sys

from medialab_runtime.nats_conn import connect
from medialab_runtime.provisioning import LayoutError, ensure_layout
from medialab_runtime.settings import ServiceSettings

NAME = "provision"


async def provision(settings: ServiceSettings) -> None:
    password = settings.nats_password.get_secret_value() if settings.nats_password else None
    nc = await connect(settings.nats_url, NAME, user=settings.nats_user, password=password)
    try:
        await ensure_layout(nc.jetstream(), settings.layout())
    finally:
        await nc.close()


def main() -> int:
    try:
        asyncio.run(provision(ServiceSettings()))
    except LayoutError as error:
        print(f"{NAME}: {error}", file=sys.stderr)
        return 1
    print(f"{NAME}: the JetStream layout is in place")
    return 0


if __name__ == "__main__":
    sys.exit(main())
