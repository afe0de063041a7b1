"""The emulator as a standalone process, and the terminal chat client driving a real bot."""

from __future__ import annotations

import asyncio
import io
import os
import re
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from aiogram import Bot, Dispatcher, F, Router
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.filters import Command, CommandStart
from aiogram.types import (
    BufferedInputFile,
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    LabeledPrice,
    Message,
    PreCheckoutQuery,
    ReplyKeyboardMarkup,
)
from medialab_sandbox.telegram import EmulatorConfig, RateLimitConfig, TelegramEmulator
from medialab_sandbox.telegram.chat import main as chat_main
from PIL import Image

TOKEN = "4242:cli-secret-token"
OTHER_TOKEN = "4343:other-secret"
STEP_TIMEOUT = 20.0


class Console:
    """Drives a child process line by line: write a line, wait for output matching a regex."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.lines: list[str] = []

    async def send(self, line: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(f"{line}\n".encode())
        await self.process.stdin.drain()

    async def expect(self, pattern: str) -> re.Match[str]:
        """The first line seen so far (or coming) that matches ``pattern``."""
        regex = re.compile(pattern)
        checked = 0
        loop = asyncio.get_running_loop()
        deadline = loop.time() + STEP_TIMEOUT
        while True:
            for line in self.lines[checked:]:
                if match := regex.search(line):
                    return match
            checked = len(self.lines)
            assert self.process.stdout is not None
            try:
                raw = await asyncio.wait_for(
                    self.process.stdout.readline(), max(deadline - loop.time(), 0.01)
                )
            except TimeoutError:
                raise AssertionError(f"no {pattern!r} in output:\n" + "\n".join(self.lines)) from None
            if not raw:
                raise AssertionError(f"process ended before {pattern!r}:\n" + "\n".join(self.lines))
            self.lines.append(raw.decode().rstrip("\n"))


async def spawn(*args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        *args,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


async def test_standalone_emulator_serves_until_terminated() -> None:
    process = await spawn(
        "medialab_sandbox.telegram", "--port", "0", "--token", TOKEN, "--token", OTHER_TOKEN
    )
    console = Console(process)
    try:
        url = (await console.expect(r"listening on (http://\S+)")).group(1)
        web = (await console.expect(r"Web chat: (http://\S+)")).group(1)
        assert web == f"{url}/_emu/4242/webchat"
        async with httpx.AsyncClient(base_url=url) as http:
            me = (await http.get(f"/bot{TOKEN}/getMe")).json()
            other = (await http.get(f"/bot{OTHER_TOKEN}/getMe")).json()
            wrong = await http.get("/bot1:nope/getMe")
        assert me["ok"] and me["result"]["id"] == 4242 and me["result"]["is_bot"]
        assert other["result"]["id"] == 4343
        assert wrong.status_code == 401
    finally:
        process.terminate()
        code = await asyncio.wait_for(process.wait(), STEP_TIMEOUT)
    assert code in (0, -signal.SIGTERM)
    assert process.stdout is not None
    output = "\n".join(console.lines) + (await process.stdout.read()).decode()
    assert "cli-secret-token" not in output and "other-secret" not in output


def is_copy_in(saved: str, original: Path, folder: Path) -> bool:
    path = Path(saved)
    return path.parent == folder and path.read_bytes() == original.read_bytes()


def picture() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (640, 480), (10, 160, 90)).save(buffer, "PNG")
    return buffer.getvalue()


def scripted_bot() -> Router:
    router = Router()
    menu = ReplyKeyboardMarkup(keyboard=[[KeyboardButton(text="🖼 Фото")]], resize_keyboard=True)
    choices = InlineKeyboardMarkup(
        inline_keyboard=[
            [InlineKeyboardButton(text="🎨 Создать", callback_data="create")],
            [InlineKeyboardButton(text="ℹ️ Info", url="https://example.org/info")],
        ]
    )

    @router.message(CommandStart())
    async def start(message: Message) -> None:
        await message.answer("Меню внизу", reply_markup=menu)
        await message.answer("Выберите режим:\nвторая строка", reply_markup=choices)

    @router.callback_query(F.data == "create")
    async def create(query: CallbackQuery) -> None:
        await query.answer("Готово")
        assert isinstance(query.message, Message)
        await query.message.edit_text("Выбрано: Создать")

    @router.message(F.text == "🖼 Фото")
    async def photo(message: Message) -> None:
        await message.answer_photo(BufferedInputFile(picture(), "p.png"), caption="держите")

    @router.message(Command("stars"))
    async def stars(message: Message) -> None:
        await message.answer_invoice(
            title="Пополнение",
            description="100 ₽",
            payload="order-7",
            currency="XTR",
            prices=[LabeledPrice(label="100 ₽", amount=50)],
        )

    @router.pre_checkout_query()
    async def checkout(query: PreCheckoutQuery) -> None:
        await query.answer(ok=True)

    @router.message(F.successful_payment)
    async def paid(message: Message) -> None:
        assert message.successful_payment is not None
        await message.answer(f"Зачислено за {message.successful_payment.invoice_payload}")

    @router.message(F.document)
    async def echo_document(message: Message, bot: Bot) -> None:
        assert message.document is not None
        data = await bot.download(message.document.file_id)
        assert data is not None
        name = f"echo_{message.document.file_name}"
        await message.answer_document(BufferedInputFile(data.read(), name))

    return router


@pytest.fixture
async def bot_behind_emulator() -> AsyncIterator[TelegramEmulator]:
    config = EmulatorConfig(rate_limits=RateLimitConfig(enabled=False))
    async with TelegramEmulator(TOKEN, config=config) as emulator:
        session = AiohttpSession(api=TelegramAPIServer.from_base(emulator.base_url))
        bot = Bot(TOKEN, session=session)
        dispatcher = Dispatcher()
        dispatcher.include_router(scripted_bot())
        polling = asyncio.create_task(dispatcher.start_polling(bot, handle_signals=False))
        yield emulator
        await dispatcher.stop_polling()
        await polling


async def test_chat_client_talks_to_an_aiogram_bot(
    bot_behind_emulator: TelegramEmulator, tmp_path: Path
) -> None:
    downloads = tmp_path / "downloads"
    upload = tmp_path / "входящий.bin"
    upload.write_bytes(os.urandom(2048))
    process = await spawn(
        "medialab_sandbox.telegram.chat",
        "--api",
        bot_behind_emulator.base_url,
        "--token",
        TOKEN,
        "--user-id",
        "1001",
        "--downloads",
        str(downloads),
    )
    console = Console(process)
    try:
        await console.expect(r"Chatting with @medialab_sandbox_4242_bot as user 1001")
        await console.expect(r"!N +press inline button")
        await console.send("/start")
        await console.expect(r"^\[bot #\d+\] Выберите режим:$")
        await console.expect(r"^    вторая строка$")
        await console.expect(r"^    \[1\] 🎨 Создать$")
        await console.expect(r"^    \[2\] ℹ️ Info <https://example.org/info>$")
        await console.expect(r"^⌨ keyboard: #1 🖼 Фото$")

        await console.send("!2")
        await console.expect(r"button \[2\] opens https://example.org/info")
        await console.send("!1")
        await console.expect(r"^🔔 Готово$")
        await console.expect(r"^\[bot #\d+ edited\] Выбрано: Создать$")

        await console.send("#1")
        await console.expect(r"^\(you #\d+\) 🖼 Фото$")
        saved_photo = await console.expect(r"photo 640x480 → (\S+)")
        with Image.open(saved_photo.group(1)) as decoded:
            assert decoded.size == (640, 480)

        await console.send(f':doc "{upload}" подпись')
        await console.expect(r"^\(you #\d+\) document входящий\.bin$")
        saved = await console.expect(
            r"document echo_входящий\.bin \(application/octet-stream, 2048 B\) → (\S+)"
        )
        assert is_copy_in(saved.group(1), upload, downloads)

        await console.send("/stars")
        await console.expect(r"^\[bot #\d+\] 🧾 Пополнение: 100 ₽ \(⭐ 50\)$")
        await console.send(":pay")
        await console.expect(r"^⭐ paid 50 Stars \(charge stx\S+\)$")
        await console.expect(r"^\[bot #\d+\] Зачислено за order-7$")

        await console.send(":bogus")
        await console.expect(r"unknown or incomplete command :bogus")
        await console.send(":quit")
        assert await asyncio.wait_for(process.wait(), STEP_TIMEOUT) == 0
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()

    private = bot_behind_emulator.bot().chats[1001]
    user_texts = [r.message.text for r in private.messages.values() if not r.from_bot]
    assert user_texts[:2] == ["/start", "🖼 Фото"]


def test_chat_help_documents_the_syntax(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        chat_main(["--help"])
    help_text = capsys.readouterr().out
    for syntax in ("--api", "--token", "--downloads", "!N", "#N", ":photo PATH", ":album", ":pay", ":quit"):
        assert syntax in help_text
