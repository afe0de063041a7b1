"""Typed failures of a render: each carries a stable ``code`` the gateway turns into Russian."""


class RenderError(Exception):
    code = "render_error"


class ImageInputError(RenderError):
    """The input file is not something we can draw on."""


class NotAnImage(ImageInputError):
    code = "not_an_image"


class CorruptImage(ImageInputError):
    code = "corrupt_image"


class ImageTooLarge(ImageInputError):
    """Over the file-size or pixel-count limit."""

    code = "image_too_large"


class DecompressionBomb(ImageTooLarge):
    """Pillow's own decompression-bomb guard (``Image.MAX_IMAGE_PIXELS``) refused the header."""

    code = "decompression_bomb"


class TextInputError(RenderError):
    """The text cannot be drawn."""


class EmptyText(TextInputError):
    code = "empty_text"


class TextTooLong(TextInputError):
    """More characters than allowed, or too much to fit even at the smallest size."""

    code = "text_too_long"
