"""Terminal chat client: talk to a bot through the emulator as a Telegram user.

python -m medialab_sandbox.telegram.chat --api http://127.0.0.1:PORT --token T
"""

from __future__ import annotations

import argparse
import asyncio
import re
import shlex
import sys
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Literal, TextIO

from .client import AlbumItem, EmulatorError, TelegramUserClient
from .schemas import InlineButton, Transcript, TranscriptMessage

USAGE = """\
Type text and it is sent to the bot; /commands are sent as commands.
  !N               press inline button [N] of the latest message with buttons
  #N               press reply-keyboard button #N (sends its text); :key N is the same
  :press N         same as !N;  :press MSG N  presses button N of message #MSG
  :photo PATH [CAPTION]        send an image as a photo
  :doc PATH [CAPTION]          send a file as a document
  :album PATH PATH ...         send 2-10 images as one album (photos)
  :docs PATH PATH ...          send 2-10 files as one album (documents)
  :sticker [EMOJI]             send a sticker
  :pay [MSG]       pay the latest Stars invoice (or invoice #MSG); pressing its pay button does too
  :say TEXT        send TEXT literally (for text that starts with ':', '!' or '#')
  :wait TEXT       wait (up to 30 s) until a bot message contains TEXT
  :history         print the whole chat again
  :help            this help;  :quit  leave
Files the bot sends are saved into the downloads folder; their paths are printed."""

_BUTTON_SHORTCUT = re.compile(r"!(\d+)")
_KEY_SHORTCUT = re.compile(r"#(\d+)")
_WAIT_SECONDS = 30.0
_ANSWER_WAIT_SECONDS = 10.0


class ChatClient:
    def __init__(self, user: TelegramUserClient, out: TextIO, downloads: Path) -> None:
        self._user = user
        self._out = out
        self._downloads = downloads
        self._version = -1
        self._shown: dict[int, tuple[object, ...]] = {}
        self._saved: dict[str, Path] = {}
        self._buttons: dict[int, list[InlineButton]] = {}
        self._keyboard_message: int | None = None
        self._invoice_message: int | None = None
        self._reply_keys: list[str] = []
        self._background: set[asyncio.Task[None]] = set()

    def say(self, text: str) -> None:
        print(text, file=self._out, flush=True)

    async def run(self, lines: AsyncIterator[str]) -> None:
        bot = await self._user.bot_info()
        self.say(f"Chatting with @{bot.username} as user {self._user.user_id}.")
        self.say(USAGE)
        await self._show(await self._user.transcript())
        watcher = asyncio.create_task(self._watch())
        try:
            async for line in lines:
                try:
                    if not await self._handle(line.strip()):
                        break
                except (EmulatorError, OSError, ValueError, LookupError) as error:
                    self.say(f"! {error}")
        finally:
            watcher.cancel()
            for task in self._background:
                task.cancel()

    # --- incoming ----------------------------------------------------------------------------
    async def _watch(self) -> None:
        while True:
            try:
                transcript = await self._user.transcript(since=self._version, timeout=25)
            except EmulatorError as error:
                self.say(f"! {error}")
                await asyncio.sleep(1)
                continue
            except OSError as error:
                self.say(f"! connection problem: {error}")
                await asyncio.sleep(1)
                continue
            await self._show(transcript)

    async def _show(self, transcript: Transcript, *, again: bool = False) -> None:
        """Save new files first, so that their paths can be printed with the messages."""
        await self._save_files(transcript)
        self._render(transcript, again=again)

    def _render(self, transcript: Transcript, *, again: bool = False) -> None:
        self._version = transcript.version
        for message in transcript.messages:
            if not message.from_bot:
                continue
            signature = _signature(message)
            previous = self._shown.get(message.message_id)
            if previous == signature and not again:
                continue
            self._shown[message.message_id] = signature
            self._print_message(message, edited=previous is not None and not again)
        keys = [
            button["text"] for row in (transcript.reply_keyboard or {}).get("keyboard", []) for button in row
        ]
        if keys != self._reply_keys or (again and keys):
            self._reply_keys = keys
            if keys:
                self.say("⌨ keyboard: " + " | ".join(f"#{i} {t}" for i, t in enumerate(keys, 1)))
            else:
                self.say("⌨ keyboard removed")

    def _print_message(self, message: TranscriptMessage, *, edited: bool) -> None:
        tag = f"bot #{message.message_id}"
        if message.deleted:
            self.say(f"[{tag} deleted]")
            return
        header = f"[{tag} edited]" if edited else f"[{tag}]"
        body = message.content.replace("\n", "\n    ")
        self.say(f"{header} {body}".rstrip())
        for line in self._file_lines(message):
            self.say(f"    {line}")
        if message.invoice is not None:
            self._invoice_message = message.message_id
            self.say(f"    (:pay {message.message_id} pays it)")
        buttons = message.inline_buttons
        if buttons:
            self._buttons[message.message_id] = buttons
            self._keyboard_message = message.message_id
            rows: dict[int, list[str]] = {}
            for number, button in enumerate(buttons, 1):
                label = f"[{number}] {button.text}" + (f" <{button.url}>" if button.url else "")
                rows.setdefault(button.row, []).append(label)
            for row in rows.values():
                self.say("    " + "  ".join(row))

    def _file_lines(self, message: TranscriptMessage) -> list[str]:
        lines = []
        photo = message.largest_photo
        if photo is not None:
            lines.append(f"photo {photo.width}x{photo.height} → {self._saved.get(photo.file_unique_id)}")
        if message.document is not None:
            doc = message.document
            lines.append(
                f"document {doc.file_name} ({doc.mime_type}, {doc.file_size} B) → "
                f"{self._saved.get(doc.file_unique_id)}"
            )
        if message.sticker is not None:
            lines.append(f"sticker {message.sticker.emoji or ''}".rstrip())
        return lines

    async def _save_files(self, transcript: Transcript) -> None:
        self._downloads.mkdir(parents=True, exist_ok=True)
        for message in transcript.messages:
            if not message.from_bot or message.deleted:
                continue
            wanted = []
            if message.largest_photo is not None:
                photo = message.largest_photo
                wanted.append((photo.file_id, photo.file_unique_id, "photo.jpg"))
            if message.document is not None:
                doc = message.document
                wanted.append((doc.file_id, doc.file_unique_id, doc.file_name or "document"))
            for file_id, unique_id, name in wanted:
                if unique_id in self._saved:
                    continue
                path = self._downloads / f"{message.message_id}_{_safe_name(name)}"
                path.write_bytes(await self._user.download(file_id))
                self._saved[unique_id] = path

    # --- outgoing ----------------------------------------------------------------------------
    async def _handle(self, line: str) -> bool:
        if not line:
            return True
        if match := _BUTTON_SHORTCUT.fullmatch(line):
            await self._press(self._keyboard_message, int(match.group(1)))
        elif match := _KEY_SHORTCUT.fullmatch(line):
            await self._send_key(int(match.group(1)))
        elif line.startswith(":"):
            return await self._command(line[1:])
        else:
            await self._user.send_text(line)
        return True

    async def _command(self, line: str) -> bool:
        name, _, rest = line.partition(" ")
        rest = rest.strip()
        args = shlex.split(rest) if name not in ("say", "wait") else []
        if name in ("quit", "q", "exit"):
            return False
        if name == "help":
            self.say(USAGE)
        elif name == "say" and rest:
            await self._user.send_text(rest)
        elif name == "press" and len(args) in (1, 2):
            message_id = int(args[0]) if len(args) == 2 else self._keyboard_message
            await self._press(message_id, int(args[-1]))
        elif name == "key" and len(args) == 1:
            await self._send_key(int(args[0]))
        elif name == "photo" and args:
            _, data = _load(args[0])
            sent = await self._user.send_photo(data, caption=" ".join(args[1:]) or None)
            self._confirm(f"photo {args[0]}", sent.message_id)
        elif name == "doc" and args:
            file_name, data = _load(args[0])
            caption = " ".join(args[1:]) or None
            sent = await self._user.send_document(data, file_name, caption=caption)
            self._confirm(f"document {file_name}", sent.message_id)
        elif name in ("album", "docs") and len(args) >= 2:
            kind: Literal["photo", "document"] = "photo" if name == "album" else "document"
            loaded = [_load(arg) for arg in args]
            album = await self._user.send_album(
                [AlbumItem(data, kind=kind, file_name=file_name) for file_name, data in loaded]
            )
            self._confirm(f"album of {len(album)} {kind}s", album[0].message_id)
        elif name == "sticker":
            sent = await self._user.send_sticker(args[0] if args else "👍")
            self._confirm("sticker", sent.message_id)
        elif name == "pay" and len(args) <= 1:
            await self._pay(int(args[0]) if args else self._invoice_message)
        elif name == "wait" and rest:
            await self._wait(rest)
        elif name == "history":
            await self._show(await self._user.transcript(), again=True)
        else:
            self.say(f"! unknown or incomplete command :{line} (try :help)")
        return True

    async def _press(self, message_id: int | None, number: int) -> None:
        buttons = self._buttons.get(message_id) if message_id is not None else None
        if message_id is None or not buttons or not 1 <= number <= len(buttons):
            self.say(f"! no button [{number}] to press")
            return
        button = buttons[number - 1]
        if button.pay:
            await self._pay(message_id)
            return
        if button.callback_data is None:
            self.say(f"(button [{number}] opens {button.url or 'something this client cannot'})")
            return
        query_id = await self._user.press_button(message_id, index=number - 1)
        task = asyncio.create_task(self._report_answer(query_id))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _pay(self, message_id: int | None) -> None:
        if message_id is None:
            self.say("! no invoice to pay")
            return
        self.say(f"(paying invoice #{message_id}…)")
        outcome = await self._user.pay_invoice(message_id)
        if outcome.status == "paid":
            self.say(f"⭐ paid {outcome.total_amount} Stars (charge {outcome.telegram_payment_charge_id})")
        elif outcome.status == "declined":
            self.say(f"⚠ the bot declined the payment: {outcome.error_message}")
        else:
            self.say("⚠ the bot did not confirm the payment in time; nothing was charged")

    async def _report_answer(self, query_id: str) -> None:
        answer = await self._user.callback_answer(query_id, timeout=_ANSWER_WAIT_SECONDS)
        if not answer.answered:
            self.say("(the bot did not answer the button press)")
        elif answer.text:
            self.say(f"{'⚠ alert' if answer.show_alert else '🔔'} {answer.text}")

    async def _send_key(self, number: int) -> None:
        if not 1 <= number <= len(self._reply_keys):
            self.say(f"! no keyboard button #{number}")
            return
        text = self._reply_keys[number - 1]
        sent = await self._user.send_text(text)
        self._confirm(text, sent.message_id)

    def _confirm(self, what: str, message_id: int) -> None:
        self.say(f"(you #{message_id}) {what}")

    async def _wait(self, text: str) -> None:
        try:
            await self._user.wait_for_message(predicate=lambda m: text in m.content, timeout=_WAIT_SECONDS)
        except TimeoutError:
            self.say(f"! nothing with {text!r} within {_WAIT_SECONDS:.0f} s")


def _signature(message: TranscriptMessage) -> tuple[object, ...]:
    return (
        message.deleted,
        message.edit_date,
        len(message.edits),
        message.content,
        repr(message.reply_markup),
    )


def _safe_name(name: str) -> str:
    return re.sub(r"[^\w.-]+", "_", name).strip("._") or "file"


def _load(path_text: str) -> tuple[str, bytes]:
    """A local file's name and bytes (small files, typed by a person: read them directly)."""
    path = Path(path_text).expanduser()
    return path.name, path.read_bytes()


async def stdin_lines() -> AsyncIterator[str]:
    """Lines from stdin without blocking the event loop (and without blocking exit)."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[str | None] = asyncio.Queue()

    def pump() -> None:
        for line in sys.stdin:
            loop.call_soon_threadsafe(queue.put_nowait, line)
        loop.call_soon_threadsafe(queue.put_nowait, None)

    threading.Thread(target=pump, name="stdin", daemon=True).start()
    while (line := await queue.get()) is not None:
        yield line


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m medialab_sandbox.telegram.chat",
        description="Chat with a bot through the Telegram emulator, as a user.",
        epilog=USAGE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--api", required=True, help="emulator base URL, http://127.0.0.1:PORT")
    parser.add_argument("--token", required=True, help="the bot's token")
    parser.add_argument("--user-id", type=int, default=1001)
    parser.add_argument("--first-name", default="Тест")
    parser.add_argument("--username", default=None)
    parser.add_argument("--language", default="ru")
    parser.add_argument("--downloads", type=Path, default=Path("downloads"))
    return parser.parse_args(argv)


async def _main(args: argparse.Namespace) -> None:
    user = TelegramUserClient(
        args.api,
        args.token,
        user_id=args.user_id,
        first_name=args.first_name,
        username=args.username,
        language_code=args.language,
    )
    async with user:
        await user.register()
        await ChatClient(user, sys.stdout, args.downloads).run(stdin_lines())


def main(argv: list[str] | None = None) -> None:
    args = _parse_args(argv)
    try:
        asyncio.run(_main(args))
    except KeyboardInterrupt:
        pass
    except (EmulatorError, OSError) as error:
        sys.exit(f"cannot talk to the emulator at {args.api}: {error}")


if __name__ == "__main__":
    main()
