"""The sandbox web chat in a real browser: headless Chromium (Debian's package, driven by Playwright
through its own binary, no browser download) plays /start → 🎨 Создать → model → format → prompt
against the real stack (gateway, billing, fal-runner, NATS, PostgreSQL; Telegram and fal emulated),
and the generated image shows up in the chat. A second user opened side by side gets their own chat.

The screenshot it takes is docs/webchat.png (shown in README.md) when run with
``UPDATE_SCREENSHOTS=1 python3 dev.py test tests/test_webchat_browser.py``; otherwise it goes to the
test's temporary folder. Without Chromium, the test installs it with apt-get when it can and is
skipped, saying why, when it cannot.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from medialab_sandbox.telegram.webchat import webchat_url
from playwright.async_api import Locator, Page, async_playwright, expect

sys.path.insert(0, str(Path(__file__).parent))
from test_e2e_harness import TOKEN, Stack, build_stack

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
    def build(stack: Stack) -> None:
        stack.start_billing()
        stack.start_fal()
        stack.start_fal_runner()
        stack.start_gateway()

    stack = build_stack(tmp_path_factory.mktemp("webchat"), postgres_admin_url, build)
    yield stack
    stack.close()


def pane(page: Page, user_id: int) -> Locator:
    return page.locator(f'.pane[data-user-id="{user_id}"]')


def bot_message(chat: Locator, text: str) -> Locator:
    return chat.locator(".item.bot").filter(has_text=text).last


async def send(chat: Locator, text: str) -> None:
    await chat.locator("textarea").fill(text)
    await chat.locator("textarea").press("Enter")


async def test_create_an_image_in_the_web_chat(chromium: Path, stack: Stack, tmp_path: Path) -> None:
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=str(chromium))
        try:
            page = await browser.new_page(viewport={"width": 1360, "height": 900})
            errors: list[str] = []
            page.on("pageerror", lambda error: errors.append(str(error)))
            await page.goto(webchat_url(stack.telegram.url, TOKEN, USER_ID))
            chat = pane(page, USER_ID)
            expect.set_options(timeout=STEP_TIMEOUT_MS)

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
            assert errors == []

            shot = SCREENSHOT if os.environ.get("UPDATE_SCREENSHOTS") == "1" else tmp_path / SCREENSHOT.name
            await page.screenshot(path=str(shot))
        finally:
            await browser.close()
