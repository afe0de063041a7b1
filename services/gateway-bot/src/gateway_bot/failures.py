"""Problems with what the user sent; raised by handlers and flows, worded once in the errors router.

They never reach billing: each is raised before anything is reserved.
"""

from __future__ import annotations

from enum import StrEnum


class InputRejected(Exception):
    """Base of every user-input problem."""


class NotAnImage(InputRejected):
    pass


class BadImage(InputRejected):
    pass


class DownloadFailed(InputRejected):
    """Telegram did not hand the file over (getFile or the download failed)."""


class ImageTooLarge(InputRejected):
    def __init__(self, limit_bytes: int) -> None:
        super().__init__(f"file over {limit_bytes} bytes")
        self.limit_bytes = limit_bytes


class TooManyPixels(InputRejected):
    pass


class AnimatedImage(InputRejected):
    pass


class AlbumTooLarge(InputRejected):
    """The album's images together exceed the pixel or byte limit (each alone may pass)."""

    def __init__(self, limit_pixels: int, limit_bytes: int) -> None:
        super().__init__(f"album over {limit_pixels} pixels or {limit_bytes} bytes")
        self.limit_pixels = limit_pixels
        self.limit_bytes = limit_bytes


class UploadQuotaReached(InputRejected):
    """The user's uploads of this hour are used up (UPLOADS_PER_HOUR)."""

    def __init__(self, per_hour: int) -> None:
        super().__init__(f"more than {per_hour} uploads in an hour")
        self.per_hour = per_hour


class UploadBytesQuotaReached(InputRejected):
    """The file does not fit in what is left of the user's upload bytes of this hour
    (UPLOAD_BYTES_PER_HOUR); the hour's quota renews in ``retry_in_min`` minutes."""

    def __init__(self, limit_bytes: int, used_bytes: int, retry_in_min: int) -> None:
        super().__init__(f"{used_bytes} of {limit_bytes} upload bytes used this hour")
        self.limit_bytes = limit_bytes
        self.used_bytes = used_bytes
        self.retry_in_min = retry_in_min


class UploadExpired(InputRejected):
    """An upload no job took within UPLOADS_TTL_S is gone."""


class ImageTooSmall(InputRejected):
    def __init__(self, min_side: int) -> None:
        super().__init__(f"a side under {min_side} px")
        self.min_side = min_side


class ImageAspectUnsupported(InputRejected):
    def __init__(self, max_aspect: float) -> None:
        super().__init__(f"sides further apart than {max_aspect:g}:1")
        self.max_aspect = max_aspect


class TooManyImages(InputRejected):
    def __init__(self, max_images: int) -> None:
        super().__init__(f"more than {max_images} images")
        self.max_images = max_images


class NotEnoughImages(InputRejected):
    def __init__(self, minimum: int, have: int) -> None:
        super().__init__(f"{have} images, need {minimum}")
        self.minimum = minimum
        self.have = have


class AlbumNotAllowed(InputRejected):
    pass


class EmptyPrompt(InputRejected):
    pass


class PromptTooLong(InputRejected):
    def __init__(self, limit: int) -> None:
        super().__init__(f"prompt over {limit} chars")
        self.limit = limit


class TranslationFailed(Exception):
    """The prompt could not be put into English for the model: not the user's fault, and the flow
    ends there (unlike an ``InputRejected``, which keeps the step)."""


class FormProblem(StrEnum):
    unknown_key = "unknown_key"
    unknown_model = "unknown_model"
    bad_size = "bad_size"
    bad_ratio = "bad_ratio"
    bad_part = "bad_part"
    duplicate = "duplicate"
    no_negative = "no_negative"  # the model has no negative prompt


class ExtendedFormError(InputRejected):
    def __init__(self, problem: FormProblem, value: str, accepted: tuple[str, ...] = ()) -> None:
        super().__init__(f"{problem}: {value!r}")
        self.problem = problem
        self.value = value
        self.accepted = accepted


class TopupProblem(StrEnum):
    usage = "usage"
    not_positive = "not_positive"
    too_large = "too_large"
    bad_amount = "bad_amount"
    bad_user = "bad_user"


class TopupArgsError(InputRejected):
    def __init__(self, problem: TopupProblem) -> None:
        super().__init__(problem.value)
        self.problem = problem


class PromoProblem(StrEnum):
    usage = "usage"
    bad_code = "bad_code"
    bad_uses = "bad_uses"
    bad_date = "bad_date"
    past_date = "past_date"


class PromoArgsError(InputRejected):
    def __init__(self, problem: PromoProblem) -> None:
        super().__init__(problem.value)
        self.problem = problem


class TopupOutOfLimits(InputRejected):
    """A top-up amount outside TOPUP_MIN_RUB..TOPUP_MAX_RUB."""

    def __init__(self, low_rub: int, high_rub: int) -> None:
        super().__init__(f"a top-up is {low_rub}..{high_rub} rubles")
        self.low_rub = low_rub
        self.high_rub = high_rub


class StatusArgsError(InputRejected):
    def __init__(self, missing: bool) -> None:
        super().__init__("missing job id" if missing else "malformed job id")
        self.missing = missing
