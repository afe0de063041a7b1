"""Composition of the payments service: the YooKassa client, the ``payments.*`` endpoints, the
notification endpoint and the reconcile loop."""

from __future__ import annotations

import asyncio
import logging

from medialab_contracts import subjects
from medialab_contracts.payments import YooKassaRefundRequest, YooKassaTopupRequest
from medialab_runtime.rpc import add_endpoint
from medialab_runtime.service import ServiceContext, package_version
from nats import micro

from payments.service import Payments
from payments.settings import PaymentsSettings
from payments.webhook import WebhookServer, build_app
from payments.yookassa import YooKassaClient

log = logging.getLogger(__name__)
lifecycle = logging.getLogger("medialab.lifecycle")

SERVICE_NAME = "payments"
DIST = "medialab-payments"


async def setup(ctx: ServiceContext[PaymentsSettings]) -> None:
    settings = ctx.settings
    client = YooKassaClient(settings)
    ctx.on_shutdown(client.aclose)
    payments = Payments(ctx.nc, ctx.js, client, settings)

    in_flight: set[asyncio.Task[None]] = set()
    service = await micro.add_service(
        ctx.nc,
        name=SERVICE_NAME,
        version=package_version(DIST),
        queue_group=SERVICE_NAME,
        description="MediaLab payments (YooKassa)",
    )
    await add_endpoint(
        service,
        SERVICE_NAME,
        subjects.PAYMENTS_YOOKASSA_CREATE,
        YooKassaTopupRequest,
        payments.create,
        in_flight=in_flight,
    )
    await add_endpoint(
        service,
        SERVICE_NAME,
        subjects.PAYMENTS_YOOKASSA_REFUND,
        YooKassaRefundRequest,
        payments.refund,
        in_flight=in_flight,
    )

    webhook = WebhookServer(
        build_app(payments, settings.yookassa_webhook_path),
        settings.yookassa_webhook_host,
        settings.yookassa_webhook_port,
    )
    await webhook.start()
    lifecycle.info("webhook port %d", webhook.port)

    async def stop_serving() -> None:
        # No new notifications or requests; the ones taken are answered before NATS drains.
        await webhook.stop()
        await service.stop()
        if in_flight:
            await asyncio.wait(set(in_flight), timeout=settings.shutdown_grace_s or None)

    reconcile = ctx.spawn(payments.run_reconcile(ctx.stopping), "payments-reconcile")

    async def finish_reconcile() -> None:
        await asyncio.wait({reconcile}, timeout=settings.shutdown_grace_s or None)

    ctx.on_shutdown(finish_reconcile)
    ctx.on_shutdown(stop_serving)
    log.info("payments serving; YooKassa at %s", settings.yookassa_api_base)
