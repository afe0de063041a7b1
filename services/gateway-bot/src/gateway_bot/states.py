"""One StatesGroup per flow; each state is one step that waits for one kind of input."""

from aiogram.fsm.state import State, StatesGroup


class CreateFlow(StatesGroup):  # M1
    model = State()
    format = State()
    prompt = State()


class WriteFlow(StatesGroup):  # M2
    words = State()


class EditFlow(StatesGroup):  # M3 and M8
    model = State()
    format = State()
    images = State()


class RetouchFlow(StatesGroup):  # M4
    image = State()
    kind = State()
    instruction = State()


class TextFlow(StatesGroup):  # M5
    image = State()
    text = State()
    style = State()


class FaceSwapFlow(StatesGroup):  # M6
    face = State()
    target = State()


class TopupFlow(StatesGroup):
    amount = State()  # «✏️ Другая сумма»: the amount to top up by
    email = State()  # a YooKassa top-up waits for the receipt's e-mail


class RephraseFlow(StatesGroup):  # a new prompt for an order a safety filter refused
    prompt = State()


class UpscaleFlow(StatesGroup):  # M7
    image = State()


class ConfirmFlow(StatesGroup):  # a priced order waits for «✅ Запустить» (extended form, 🔍 Upscale)
    launch = State()


# Steps that expect exactly one image, and steps that take several.
SINGLE_IMAGE_STATES = (
    RetouchFlow.image,
    TextFlow.image,
    FaceSwapFlow.face,
    FaceSwapFlow.target,
    UpscaleFlow.image,
)
IMAGE_STATES = (*SINGLE_IMAGE_STATES, EditFlow.images)
# Steps answered by an inline button, not by a message.
BUTTON_STATES = (
    CreateFlow.model,
    CreateFlow.format,
    EditFlow.model,
    EditFlow.format,
    RetouchFlow.kind,
    ConfirmFlow.launch,
)
