"""The gateway's Telegram session: each kind of answer's model is built once, not after every GC."""

from __future__ import annotations

import gc
import json
import weakref

from aiogram import Bot
from aiogram.methods import SendMessage
from gateway_bot.telegram.session import TelegramSession

MESSAGE = {"message_id": 5, "date": 1700000000, "chat": {"id": 7, "type": "private"}, "text": "hi"}
ANSWER = json.dumps({"ok": True, "result": MESSAGE})


async def test_the_model_of_an_answer_outlives_a_garbage_collection() -> None:
    session = TelegramSession()
    bot = Bot("123456:TEST-token", session=session)
    try:
        first = session.check_response(bot, SendMessage(chat_id=7, text="hi"), 200, ANSWER)
        model = weakref.ref(type(first))
        del first
        gc.collect()  # without the session holding it, pydantic's weak cache would let it go here
        second = session.check_response(bot, SendMessage(chat_id=7, text="hi"), 200, ANSWER)
        assert type(second) is model()
        assert second.result is not None and second.result.message_id == 5
    finally:
        await session.close()
