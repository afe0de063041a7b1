import nats
import pytest
from medialab_contracts.billing import BalanceRequest, BalanceView
from medialab_contracts.errors import BadRequest, InsufficientFunds, ServiceUnavailable
from medialab_runtime.rpc import add_endpoint, call
from nats.micro import add_service


async def test_typed_reply_and_typed_errors_cross_the_wire(nats_url: str) -> None:
    nc = await nats.connect(nats_url)
    service = await add_service(nc, name="probe", version="0.1.0", queue_group="probe")

    async def balance(req: BalanceRequest) -> BalanceView:
        if req.user_id == 13:
            raise InsufficientFunds(available=100, price=2400)
        if req.user_id == 66:
            raise RuntimeError("secret internals")
        return BalanceView(user_id=req.user_id, balance=3000, reserved=0, available=3000)

    await add_endpoint(service, "probe", "probe.balance", BalanceRequest, balance)
    try:
        reply = await call(nc, "probe.balance", BalanceRequest(user_id=1), BalanceView)
        assert reply.available == 3000

        with pytest.raises(InsufficientFunds) as refused:
            await call(nc, "probe.balance", BalanceRequest(user_id=13), BalanceView)
        assert (refused.value.available, refused.value.price) == (100, 2400)

        with pytest.raises(Exception) as crashed:
            await call(nc, "probe.balance", BalanceRequest(user_id=66), BalanceView)
        assert "secret internals" not in str(crashed.value)
        assert crashed.value.code == "internal"  # type: ignore[attr-defined]

        msg = await nc.request("probe.balance", b"\xff not json", timeout=2)
        assert msg.headers and msg.headers["Nats-Service-Error-Code"] == BadRequest.code

        with pytest.raises(ServiceUnavailable):
            await call(nc, "nobody.home", BalanceRequest(user_id=1), BalanceView, timeout=0.5)
    finally:
        await service.stop()
        await nc.close()
