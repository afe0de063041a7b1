"""M6 🔄 Заменить лицо: the source face, then the target; the job's inputs are ``[face, target]``."""

from __future__ import annotations

from gateway_bot import texts
from gateway_bot.states import FaceSwapFlow
from medialab_contracts.modes import Mode
from medialab_testkit.gateway import Conversation, RecordingLauncher, buttons


async def test_face_then_target(chat: Conversation, launcher: RecordingLauncher) -> None:
    await chat.send(texts.BTN_FACESWAP)
    assert chat.last().text == texts.faceswap_send_face(400)
    assert "Стоимость: 4 ₽." in chat.last().text
    await chat.photo(600, 800)
    assert chat.last().text == texts.FACESWAP_SEND_TARGET
    assert list(buttons(chat.last().reply_markup)) == [texts.BTN_CANCEL]
    assert await chat.state() == FaceSwapFlow.target.state

    await chat.document("image/png", "group.png", 1920, 1080)
    (order,) = launcher.orders
    assert (order.mode, order.model.key, order.price) == (Mode.faceswap, "fs", 400)
    assert [(ref.width, ref.height) for ref in order.inputs] == [(600, 800), (1920, 1080)]
    assert await chat.state() is None


async def test_an_album_is_not_a_face_and_is_answered_once(
    chat: Conversation, launcher: RecordingLauncher
) -> None:
    await chat.send(texts.BTN_FACESWAP)
    await chat.photo(album="a1")
    await chat.photo(album="a1")
    assert chat.session.sent_texts()[1:] == [texts.ONE_IMAGE_ONLY]
    assert await chat.state() == FaceSwapFlow.face.state
    assert launcher.orders == []
