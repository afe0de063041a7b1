"""M2 ✍️ Написать: plain words become an LLM prompt job, priced in the first message."""

from __future__ import annotations

from gateway_bot import texts
from gateway_flowkit import Conversation, RecordingLauncher, buttons
from medialab_contracts.modes import Mode


async def test_words_become_a_prompt_job(chat: Conversation, launcher: RecordingLauncher) -> None:
    await chat.send(texts.BTN_WRITE)
    ask = chat.last()
    assert ask.text == texts.write_ask(300)
    assert "Стоимость: 3 ₽." in ask.text
    assert list(buttons(ask.reply_markup)) == [texts.BTN_CANCEL]

    await chat.send("кот на подоконнике")
    (order,) = launcher.orders
    assert (order.mode, order.model.key, order.prompt, order.price) == (
        Mode.prompt,
        "llm",
        "кот на подоконнике",
        300,
    )
    assert (order.user_id, order.chat_id) == (chat.user.id, chat.chat.id)
    assert await chat.state() is None
