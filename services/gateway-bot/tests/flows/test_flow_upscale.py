"""M7 ⬆️ Улучшить: one image → ×2; «🔍 Upscale» under a result waits for «✅ Запустить» under its price."""

from __future__ import annotations

from gateway_bot import texts
from gateway_bot.callbacks import ResultAction, ResultCb
from medialab_contracts.events import JobSucceeded, MediaOutput
from medialab_contracts.ids import new_job_id
from medialab_contracts.modes import Mode
from medialab_testkit.gateway import BillingResponder, Conversation, RecordingLauncher, buttons
from nats.js import JetStreamContext


async def test_an_image_is_upscaled(chat: Conversation, launcher: RecordingLauncher) -> None:
    await chat.send(texts.BTN_UPSCALE)
    assert chat.last().text == texts.upscale_send(800)
    assert "Стоимость: 8 ₽." in chat.last().text
    await chat.document("image/webp", "small.webp", 512, 512)
    (order,) = launcher.orders
    assert (order.mode, order.model.key, order.price) == (Mode.upscale, "ups", 800)
    assert [(ref.width, ref.height, ref.content_type) for ref in order.inputs] == [(512, 512, "image/webp")]
    assert await chat.state() is None


async def test_upscale_under_a_result_shows_its_price_first(
    chat: Conversation, launcher: RecordingLauncher, billing: BillingResponder, admin_js: JetStreamContext
) -> None:
    job = new_job_id()
    output = MediaOutput(object_name=f"results/{job}/0.png", content_type="image/png", width=64, height=64)
    done = JobSucceeded(
        job_id=job, user_id=chat.user.id, chat_id=chat.chat.id, mode=Mode.create, outputs=[output]
    )
    await admin_js.publish(done.subject, done.model_dump_json().encode())

    await chat.press(ResultCb(action=ResultAction.upscale, job=job, n=0).pack())
    offer = chat.last()
    assert offer.text == "Улучшение · Recraft Crisp ×2\nСтоимость: 8 ₽. Запустить?"
    assert list(buttons(offer.reply_markup)) == [texts.BTN_LAUNCH, texts.BTN_CANCEL]
    assert launcher.orders == []

    await chat.press(buttons(offer.reply_markup)[texts.BTN_LAUNCH])
    (order,) = launcher.orders
    assert (order.mode, order.model.key, order.price) == (Mode.upscale, "ups", 800)
    assert [ref.object_name for ref in order.inputs] == [output.object_name]


async def test_a_result_of_another_user_is_not_upscaled(
    chat: Conversation, launcher: RecordingLauncher, admin_js: JetStreamContext
) -> None:
    job = new_job_id()
    output = MediaOutput(object_name=f"results/{job}/0.png", content_type="image/png", width=64, height=64)
    done = JobSucceeded(job_id=job, user_id=777, chat_id=777, mode=Mode.create, outputs=[output])
    await admin_js.publish(done.subject, done.model_dump_json().encode())
    await chat.press(ResultCb(action=ResultAction.upscale, job=job, n=0).pack())
    assert chat.session.answers() == [texts.FOREIGN_BUTTON]
    assert chat.session.sent() == [] and launcher.orders == []
