"""Two gateway replicas in webhook mode behind a round-robin balancer.

One conversation alternates between the replicas and completes; an album whose parts reach
different replicas becomes one job; a duplicate update is processed once; the webhook refuses
calls without Telegram's secret token.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import pytest
from medialab_devstack.ports import free_port
from medialab_testkit.e2e import (
    WEBHOOK_SECRET,
    RoundRobinProxy,
    Stack,
    balance_available,
    button_texts,
    contains,
    is_png,
    jpeg_bytes,
    press,
    reply,
    running_stack,
    text_of,
    wait_document,
)

pytestmark = pytest.mark.e2e

WEBHOOK_PATH = "/telegram/webhook"


@pytest.fixture(scope="module")
def proxy_and_ports() -> Iterator[tuple[RoundRobinProxy, list[int]]]:
    ports = [free_port(), free_port()]
    proxy = RoundRobinProxy([f"http://127.0.0.1:{port}" for port in ports])
    proxy.start()
    yield proxy, ports
    proxy.stop()


@pytest.fixture(scope="module")
def stack(
    tmp_path_factory: pytest.TempPathFactory,
    postgres_admin_url: str,
    proxy_and_ports: tuple[RoundRobinProxy, list[int]],
) -> Iterator[Stack]:
    proxy, ports = proxy_and_ports

    def build(stack: Stack) -> None:
        stack.launch("billing")
        stack.start_fal()
        stack.launch("fal-runner")
        for port in ports:
            stack.launch(
                "gateway-bot",
                WEBHOOK_URL=f"{proxy.url}{WEBHOOK_PATH}",
                WEBHOOK_SECRET=WEBHOOK_SECRET,
                WEBHOOK_HOST="127.0.0.1",
                WEBHOOK_PORT=str(port),
            )

    with running_stack(tmp_path_factory.mktemp("replicas"), postgres_admin_url, build) as stack:
        yield stack


@pytest.fixture
def proxy(proxy_and_ports: tuple[RoundRobinProxy, list[int]]) -> RoundRobinProxy:
    return proxy_and_ports[0]


def replicas_of(proxy: RoundRobinProxy, first_hit: int) -> set[int]:
    return {replica for replica, _ in proxy.hits[first_hit:]}


async def test_webhook_refuses_calls_without_the_secret(
    stack: Stack, proxy_and_ports: tuple[RoundRobinProxy, list[int]]
) -> None:
    _, ports = proxy_and_ports
    url = f"http://127.0.0.1:{ports[0]}{WEBHOOK_PATH}"
    update = {"update_id": 1, "message": {"message_id": 1, "date": 0, "chat": {"id": 1, "type": "private"}}}
    async with httpx.AsyncClient() as client:
        assert (await client.post(url, json=update)).status_code == 401
        wrong = {"X-Telegram-Bot-Api-Secret-Token": "not-the-secret"}
        assert (await client.post(url, json=update, headers=wrong)).status_code == 401


async def test_create_over_webhook_across_replicas(stack: Stack, proxy: RoundRobinProxy) -> None:
    async with stack.user() as user:
        before = await balance_available(user)
        first_hit = len(proxy.hits)
        await user.send_text("🎨 Создать")
        models = await reply(user, contains("Выберите модель"))
        await press(user, models, "Nano-banana")
        formats = await user.wait_for_message(predicate=contains("Выберите формат"), timeout=10)
        await press(user, formats, "Квадрат")
        await user.wait_for_message(predicate=contains("Напишите промпт"), timeout=10)
        await user.send_text("ночной город под дождём")
        document = await wait_document(user, timeout=40)
        assert button_texts(document) == ["✏️ Редактировать", "🔍 Upscale"]
        assert is_png(await user.download(document.document.file_id))
        assert replicas_of(proxy, first_hit) == {0, 1}  # the conversation went through both replicas
        assert await balance_available(user) == before - 800


async def test_album_split_over_replicas_is_one_job(stack: Stack, proxy: RoundRobinProxy) -> None:
    async with stack.user() as user:
        await user.send_text("✏️ Изменить")
        models = await reply(user, contains("Выберите модель"))
        await press(user, models, "Nano-Banana")
        await user.wait_for_message(predicate=contains("Отправьте от 1 до 4"), timeout=10)
        first_hit = len(proxy.hits)
        await user.send_album([jpeg_bytes(color=(60 * n, 80, 120)) for n in range(3)])
        await reply(user, contains("Изображений загружено: 3 из 4"))
        assert replicas_of(proxy, first_hit) == {0, 1}
        await asyncio.sleep(1.5)
        assert len([m for m in await user.bot_messages() if "Изображений загружено" in text_of(m)]) == 1
        await user.send_text("сложи три картинки в коллаж")
        await wait_document(user, timeout=40)
        async with httpx.AsyncClient() as client:
            submits = (
                await client.get(f"{stack.fal_url}/_emu/submits", params={"model": "fal-ai/nano-banana/edit"})
            ).json()
        assert [len(s["body"].get("image_urls", [])) for s in submits if "коллаж" in str(s["body"])] == [3]


async def test_duplicate_update_is_processed_once(stack: Stack, proxy: RoundRobinProxy) -> None:
    async with stack.user() as user:
        proxy.duplicate = True
        try:
            await user.send_command("ping")
            await reply(user, contains("Понг"))
            await asyncio.sleep(1.0)
        finally:
            proxy.duplicate = False
        assert len([m for m in await user.bot_messages() if "Понг" in text_of(m)]) == 1
