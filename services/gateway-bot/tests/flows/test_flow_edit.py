"""M3 ✏️ Изменить: model → (format) → 1–4 images → the instruction (or a caption); «✏️ Редактировать»
under a result starts it with that result as the first image."""

from __future__ import annotations

from gateway_bot import texts
from gateway_bot.callbacks import ResultAction, ResultCb
from gateway_bot.states import EditFlow
from medialab_contracts.catalog import DEFAULT_EDIT_SIZE, default_catalog
from medialab_contracts.events import JobSucceeded, MediaOutput
from medialab_contracts.ids import new_job_id
from medialab_contracts.media import upload_owner
from medialab_contracts.modes import Mode
from medialab_testkit.gateway import Conversation, RecordingLauncher, buttons
from nats.js import JetStreamContext

CATALOG = default_catalog()


async def test_model_images_then_instruction(chat: Conversation, launcher: RecordingLauncher) -> None:
    await chat.send(texts.BTN_EDIT)
    assert chat.last().text == texts.EDIT_CHOOSE_MODEL
    models = buttons(chat.last().reply_markup)
    assert list(models) == [
        "Nano Banana Pro · от 24 ₽",
        "Nano-Banana · 8 ₽",
        "Seedream · 8 ₽",
        texts.BTN_CANCEL,
    ]

    await chat.press(models["Nano-Banana · 8 ₽"])  # no formats: straight to the images
    nbe = CATALOG.by_key("nbe")
    assert chat.step().text == texts.send_images(Mode.edit, nbe, 0, 4) + texts.variants_note(nbe, 1)
    assert list(buttons(chat.step().reply_markup)) == [  # variants: one image unless another is chosen
        "✅ 1 вариант · 8 ₽",
        "2 варианта · 16 ₽",
        "4 варианта · 32 ₽",
        texts.BTN_CANCEL,
    ]
    assert await chat.state() == EditFlow.images.state

    await chat.photo(1024, 768)
    await chat.document("image/png", "cat.png", 800, 600)
    assert chat.session.sent_texts()[-2:] == [texts.images_received(1, 4), texts.images_received(2, 4)]

    await chat.send("сделай фон синим")
    (order,) = launcher.orders
    assert order.size is not None
    assert (order.mode, order.model.key, order.prompt, order.price) == (
        Mode.edit,
        "nbe",
        "сделай фон синим",
        800,
    )
    assert (order.size.width, order.size.height) == DEFAULT_EDIT_SIZE
    assert [(ref.width, ref.height, ref.content_type) for ref in order.inputs] == [
        (1024, 768, "image/jpeg"),
        (800, 600, "image/png"),
    ]
    assert {upload_owner(ref.object_name) for ref in order.inputs} == {chat.user.id}
    assert await chat.state() is None


async def test_format_step_then_a_caption_launches_at_once(
    chat: Conversation, launcher: RecordingLauncher
) -> None:
    await chat.send(texts.BTN_EDIT)
    await chat.press(buttons(chat.last().reply_markup)["Nano Banana Pro · от 24 ₽"])
    assert chat.step().text == texts.choose_format(CATALOG.by_key("nbpe"))
    await chat.press(buttons(chat.step().reply_markup)["Квадрат 1:1 · 4K 4096×4096 · 48 ₽"])
    assert chat.step().text == texts.send_images(Mode.edit, CATALOG.by_key("nbpe"), 0, 4)

    await chat.photo(caption="добавь шляпу")
    (order,) = launcher.orders
    assert order.size is not None
    assert (order.model.key, order.prompt, order.size.width, order.size.height, order.price) == (
        "nbpe",
        "добавь шляпу",
        4096,
        4096,
        4800,
    )


async def test_a_file_that_is_no_image_is_refused_and_the_step_stays(
    chat: Conversation, launcher: RecordingLauncher
) -> None:
    await chat.send(texts.BTN_EDIT)
    await chat.press(buttons(chat.last().reply_markup)["Seedream · 8 ₽"])
    await chat.document("application/pdf", "doc.pdf")
    assert chat.last().text == texts.NOT_AN_IMAGE
    assert await chat.state() == EditFlow.images.state
    await chat.send("без картинки")
    assert chat.last().text == texts.NEED_IMAGE_FIRST
    assert launcher.orders == []


async def test_edit_under_a_result_starts_with_that_result(
    chat: Conversation, launcher: RecordingLauncher, admin_js: JetStreamContext
) -> None:
    job = new_job_id()
    outputs = [
        MediaOutput(object_name=f"results/{job}/{n}.png", content_type="image/png", width=1024, height=1024)
        for n in range(2)
    ]
    done = JobSucceeded(
        job_id=job, user_id=chat.user.id, chat_id=chat.chat.id, mode=Mode.create, outputs=outputs
    )
    await admin_js.publish(done.subject, done.model_dump_json().encode())

    await chat.press(ResultCb(action=ResultAction.edit, job=job, n=1).pack())
    assert chat.last().text == texts.EDIT_PRELOADED_CHOOSE_MODEL
    await chat.press(buttons(chat.last().reply_markup)["Nano-Banana · 8 ₽"])
    assert chat.step().text == texts.send_images(
        Mode.edit, CATALOG.by_key("nbe"), 1, 4
    ) + texts.variants_note(CATALOG.by_key("nbe"), 1)
    assert "Уже загружено: 1." in chat.step().text

    await chat.send("убери фон")
    (order,) = launcher.orders
    assert (order.mode, order.model.key, order.prompt) == (Mode.edit, "nbe", "убери фон")
    assert [ref.object_name for ref in order.inputs] == [outputs[1].object_name]
    assert chat.intake.accepted == []  # nothing was uploaded: the result is the input
