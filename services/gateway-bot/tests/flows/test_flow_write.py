"""M2 ✍️ Написать: plain words become an LLM prompt job priced in the first message; its result's
«🎨 Создать по этому промпту» starts M1 with that prompt."""

from __future__ import annotations

from gateway_bot import texts
from gateway_bot.callbacks import ResultAction, ResultCb
from medialab_contracts.events import JobSucceeded
from medialab_contracts.ids import new_job_id
from medialab_contracts.modes import Mode
from medialab_testkit.gateway import Conversation, RecordingLauncher, buttons
from nats.js import JetStreamContext


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


async def test_create_from_the_written_prompt(
    chat: Conversation, launcher: RecordingLauncher, admin_js: JetStreamContext
) -> None:
    job = new_job_id()
    written = JobSucceeded(
        job_id=job, user_id=chat.user.id, chat_id=chat.chat.id, mode=Mode.prompt, text="a cat on a windowsill"
    )
    await admin_js.publish(written.subject, written.model_dump_json().encode())

    await chat.press(ResultCb(action=ResultAction.create, job=job).pack())
    assert chat.last().text == texts.DRAFT_CHOOSE_MODEL
    await chat.press(buttons(chat.last().reply_markup)["Seedream · 8 ₽"])
    await chat.press(buttons(chat.step().reply_markup)["Квадрат 1:1 · 2K 2048×2048 · 8 ₽"])
    (order,) = launcher.orders
    assert (order.mode, order.model.key, order.prompt, order.price) == (
        Mode.create,
        "sd",
        "a cat on a windowsill",
        800,
    )
