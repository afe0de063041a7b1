"""The sandbox web chat in a real browser: headless Chromium (Debian's package, driven by Playwright
through its own binary, no browser download) plays /start → 🎨 Создать → model → format → prompt
against the real stack (gateway, billing, fal-runner, NATS, PostgreSQL; Telegram and fal emulated),
and the generated image shows up in the chat. A second user opened side by side gets their own chat.
A second, faster test drives the page against the Telegram emulator alone, with the test as the bot:
uploads by picker and by drag-and-drop, the bot's HTML, live edits, button answers and a Stars payment.

The screenshot it takes is docs/webchat.png (shown in README.md) when run with
``UPDATE_SCREENSHOTS=1 python3 dev.py test tests/test_webchat_browser.py``; otherwise it goes to the
test's temporary folder. Without Chromium, the test installs it with apt-get when it can and is
skipped, saying why, when it cannot.
"""

from __future__ import annotations

import base64
import io
import os
import re
import shutil
import subprocess
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup, LabeledPrice, Update
from medialab_sandbox.telegram import EmulatorConfig, RateLimitConfig, TelegramEmulator
from medialab_sandbox.telegram.webchat import webchat_url
from medialab_testkit.e2e import TOKEN, Stack, fal_and_gateway, running_stack
from PIL import Image
from playwright.async_api import Browser, Locator, Page, async_playwright, expect

pytestmark = pytest.mark.e2e

CHROMIUM = Path("/usr/bin/chromium")
# The emoji font only makes the screenshot readable; Chromium works without it.
APT_PACKAGES = ("chromium", "fonts-noto-color-emoji")
SCREENSHOT = Path(__file__).resolve().parents[1] / "docs" / "webchat.png"
USER_ID = 1001
STEP_TIMEOUT_MS = 20_000
RESULT_TIMEOUT_MS = 40_000


def _apt_get(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    command = ["apt-get", "-y", "-q", *args]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=900, check=False)


def find_or_install_chromium() -> Path:
    """Debian's Chromium; installed with apt-get when missing and apt is usable, else a skip."""
    if CHROMIUM.exists():
        return CHROMIUM
    if shutil.which("apt-get") is None or os.geteuid() != 0:
        pytest.skip(f"{CHROMIUM} is missing and apt-get cannot install it here (needs Debian and root)")
    installed = _apt_get("install", *APT_PACKAGES)
    if installed.returncode != 0:  # a fresh machine has no package lists yet
        _apt_get("update")
        installed = _apt_get("install", *APT_PACKAGES)
    if installed.returncode != 0 or not CHROMIUM.exists():
        reason = (installed.stderr or installed.stdout).strip().splitlines()[-1:]
        pytest.skip(f"{CHROMIUM} is missing and `apt-get install chromium` failed: {reason}")
    return CHROMIUM


@pytest.fixture(scope="module")
def chromium() -> Path:
    return find_or_install_chromium()


@pytest.fixture(scope="module")
def stack(
    chromium: Path, tmp_path_factory: pytest.TempPathFactory, postgres_admin_url: str
) -> Iterator[Stack]:
    with running_stack(tmp_path_factory.mktemp("webchat"), postgres_admin_url, fal_and_gateway()) as stack:
        yield stack


@asynccontextmanager
async def open_page(chromium: Path, url: str) -> AsyncIterator[Page]:
    """A page of headless Chromium at ``url``; on leaving, no script error and no console error
    (a Content-Security-Policy violation is one) may have happened."""
    async with async_playwright() as playwright:
        browser: Browser = await playwright.chromium.launch(executable_path=str(chromium))
        try:
            page = await browser.new_page(viewport={"width": 1360, "height": 900})
            errors: list[str] = []
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.on("console", lambda message: message.type == "error" and errors.append(message.text))
            expect.set_options(timeout=STEP_TIMEOUT_MS)
            await page.goto(url)
            yield page
            assert errors == []
        finally:
            await browser.close()


def pane(page: Page, user_id: int) -> Locator:
    return page.locator(f'.pane[data-user-id="{user_id}"]')


def bot_message(chat: Locator, text: str) -> Locator:
    return chat.locator(".item.bot").filter(has_text=text).last


async def send(chat: Locator, text: str) -> None:
    await chat.locator("textarea").fill(text)
    await chat.locator("textarea").press("Enter")


async def test_create_an_image_in_the_web_chat(chromium: Path, stack: Stack, tmp_path: Path) -> None:
    async with open_page(chromium, webchat_url(stack.telegram_url, TOKEN, USER_ID)) as page:
        chat = pane(page, USER_ID)
        await send(chat, "/start")
        await expect(bot_message(chat, "Привет")).to_be_visible()
        # The main menu is a reply keyboard: its button sends its text.
        await chat.locator(".reply-keyboard button", has_text="🎨 Создать").click()
        models = bot_message(chat, "Выберите модель")
        await models.locator(".inline-keyboard button", has_text="Nano-banana").click()
        formats = bot_message(chat, "Выберите формат")
        await formats.locator(".inline-keyboard button", has_text="Квадрат").click()
        await expect(bot_message(chat, "Напишите промпт")).to_be_visible()
        await send(chat, "рыжий кот в шляпе, акварель")
        await expect(bot_message(chat, "задача принята")).to_be_visible()

        result = chat.locator(".item.bot").filter(has=page.locator("figure img")).last
        await expect(result).to_be_visible(timeout=RESULT_TIMEOUT_MS)
        image = result.locator("figure img").first
        await expect(image).to_have_js_property("complete", True)
        assert await image.evaluate("img => img.naturalWidth") == 1024  # the square format, drawn
        await expect(result.locator("a.download")).to_have_attribute("download", re.compile(r"\.png$"))
        await expect(result.locator(".inline-keyboard button", has_text="Редактировать")).to_be_visible()

        # A second user, side by side, has a chat of their own.
        await page.locator("#new-user input[name=name]").fill("Ева")
        await page.locator("#new-user button").click()
        second = page.locator(".pane").nth(1)
        await expect(second.locator(".pane-title")).to_contain_text("Ева")
        await send(second, "/start")
        await expect(bot_message(second, "Привет")).to_be_visible()
        await expect(second.locator("figure img")).to_have_count(0)

        shot = SCREENSHOT if os.environ.get("UPDATE_SCREENSHOTS") == "1" else tmp_path / SCREENSHOT.name
        await page.screenshot(path=str(shot))


# --- the page against the emulator alone, the test acting as the bot -----------------------------------
WEB_USER = 4001


def png(color: tuple[int, int, int]) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (80, 60), color).save(buffer, "PNG")
    return buffer.getvalue()


class Updates:
    """The bot's getUpdates, one update at a time."""

    def __init__(self, bot: Bot) -> None:
        self.bot = bot
        self.offset = 0

    async def next(self) -> Update:
        updates = await self.bot.get_updates(offset=self.offset, limit=1, timeout=STEP_TIMEOUT_MS // 1000)
        assert updates, "the bot got no update"
        self.offset = updates[0].update_id + 1
        return updates[0]


async def drop_files(target: Locator, files: list[tuple[str, bytes]]) -> None:
    """Drop files onto ``target`` as a file manager would (a real DataTransfer in a drop event)."""
    encoded = [{"name": name, "data": base64.b64encode(data).decode()} for name, data in files]
    await target.evaluate(
        """(node, files) => {
            const transfer = new DataTransfer();
            for (const file of files) {
                const bytes = Uint8Array.from(atob(file.data), (c) => c.charCodeAt(0));
                transfer.items.add(new File([bytes], file.name, { type: "image/png" }));
            }
            const init = { dataTransfer: transfer, bubbles: true, cancelable: true };
            for (const type of ["dragenter", "dragover", "drop"]) {
                node.dispatchEvent(new DragEvent(type, init));
            }
        }""",
        encoded,
    )


async def test_uploads_edits_buttons_and_payment_in_the_web_chat(chromium: Path) -> None:
    config = EmulatorConfig(rate_limits=RateLimitConfig(enabled=False))
    async with TelegramEmulator(config=config) as emulator:
        session = AiohttpSession(api=TelegramAPIServer.from_base(emulator.base_url))
        bot = Bot(emulator.token, session=session)
        updates = Updates(bot)
        try:
            async with open_page(chromium, webchat_url(emulator.base_url, emulator.token, WEB_USER)) as page:
                chat = pane(page, WEB_USER)
                await send(chat, "привет")
                assert (await updates.next()).message.text == "привет"

                # The bot's HTML is drawn, its edits show live, its button answers pop up.
                keyboard = InlineKeyboardMarkup(
                    inline_keyboard=[[InlineKeyboardButton(text="Ок", callback_data="ok")]]
                )
                sent = await bot.send_message(
                    WEB_USER, "<b>Генерация</b> &lt;i&gt; 10%", parse_mode="HTML", reply_markup=keyboard
                )
                progress = bot_message(chat, "Генерация")
                await expect(progress.locator(".text b")).to_have_text("Генерация")
                await expect(progress.locator(".text")).to_have_text("Генерация <i> 10%")
                await bot.edit_message_text(
                    "<b>Генерация</b> 90%",
                    chat_id=WEB_USER,
                    message_id=sent.message_id,
                    parse_mode="HTML",
                    reply_markup=keyboard,
                )
                await expect(progress.locator(".text")).to_have_text("Генерация 90%")
                await expect(progress.locator(".meta")).to_contain_text("изменено")
                await progress.locator(".inline-keyboard button", has_text="Ок").click()
                query = (await updates.next()).callback_query
                assert query is not None and query.data == "ok"
                await bot.answer_callback_query(query.id, text="Принято")
                await expect(chat.locator(".toast")).to_have_text("Принято")

                # A photo from the file picker, with a caption typed before sending.
                await chat.locator("input[type=file]").set_input_files(
                    files=[{"name": "red.png", "mimeType": "image/png", "buffer": png((200, 0, 0))}]
                )
                await send(chat, "вот фото")
                photo = (await updates.next()).message
                assert photo.photo and photo.caption == "вот фото"
                await expect(chat.locator(".item.me figure img")).to_have_count(1)

                # Two images dropped onto the chat go as one album.
                await drop_files(chat, [("a.png", png((0, 200, 0))), ("b.png", png((0, 0, 200)))])
                await expect(chat.locator(".pending .chip")).to_have_count(2)
                await chat.locator(".composer .send").click()
                album = [(await updates.next()).message for _ in range(2)]
                assert album[0].media_group_id and album[0].media_group_id == album[1].media_group_id
                await expect(chat.locator(".item.me").last.locator("figure img")).to_have_count(2)

                # A Stars invoice has «Оплатить»; paying asks the bot first, then shows the payment.
                await bot.send_invoice(
                    WEB_USER,
                    title="Пополнение",
                    description="50 звёзд на баланс",
                    payload="topup-1",
                    currency="XTR",
                    prices=[LabeledPrice(label="50 ⭐", amount=50)],
                )
                await bot_message(chat, "Пополнение").locator("button", has_text="Оплатить").click()
                checkout = (await updates.next()).pre_checkout_query
                assert checkout is not None and checkout.total_amount == 50
                await bot.answer_pre_checkout_query(checkout.id, ok=True)
                await expect(chat.locator(".service")).to_have_text("⭐ Вы оплатили 50 Stars")
                paid = (await updates.next()).message
                assert paid.successful_payment and paid.successful_payment.invoice_payload == "topup-1"
        finally:
            await session.close()
