"""Rendering checked on the pixels of the PNG it returns."""

import io
import socket
import struct
import urllib.request
import zlib
from collections.abc import Callable

import pytest
from medialab_contracts.text_style import TextStyle
from PIL import Image, ImageChops, ImageCms
from text_render import emoji_source
from text_render.contrast import MIN_CONTRAST, contrast_ratio
from text_render.errors import (
    CorruptImage,
    DecompressionBomb,
    EmptyText,
    ImageTooLarge,
    NotAnImage,
    TextTooLong,
)
from text_render.render import Limits, render, render_detailed
from text_render.style_parser import parse_style

W, H = 400, 300
GREY = (128, 128, 128)
# Text alone: no plate, no outline, a fixed colour, so every changed pixel is a glyph.
BARE = {"plate": False, "stroke": False, "color": "#000000"}


def changed_box(before: bytes, after: Image.Image) -> tuple[int, int, int, int]:
    source = Image.open(io.BytesIO(before)).convert(after.mode)
    box = ImageChops.difference(source, after).getbbox()
    assert box is not None, "nothing was drawn"
    return box


@pytest.mark.parametrize(
    ("position", "band"),
    [("top", (0, H / 3)), ("center", (H / 3, 2 * H / 3)), ("bottom", (2 * H / 3, H))],
)
def test_text_lands_in_the_asked_region(
    solid: Callable[..., bytes], open_png: Callable, position: str, band: tuple[float, float]
) -> None:
    before = solid((255, 255, 255), (W, H))
    out = open_png(render(before, "Привет, мир", TextStyle(position=position, **BARE)))
    left, top, right, bottom = changed_box(before, out)
    assert band[0] <= top < bottom <= band[1]
    assert abs((left + right) / 2 - W / 2) < 3  # centred horizontally


def test_offset_from_the_bottom_edge(solid: Callable[..., bytes], open_png: Callable) -> None:
    before = solid((255, 255, 255), (W, H))
    style = parse_style("Текст размером 40px снизу, расстояние от низа 10%").model_copy(update=BARE)
    rendered = render_detailed(before, "Нижняя строка", style)
    _, _, _, bottom = changed_box(before, open_png(rendered.png))
    assert rendered.font_size == 40
    assert abs(bottom - 0.9 * H) <= 0.02 * H


@pytest.mark.parametrize("opacity", [20, 50, 85])
def test_plate_alpha_matches_the_asked_opacity(
    solid: Callable[..., bytes], open_png: Callable, opacity: int
) -> None:
    background = (0, 0, 255)
    style = TextStyle(plate=True, plate_color="#ffffff", plate_opacity_pct=opacity, color="#000000")
    rendered = render_detailed(solid(background, (W, H)), "Плашка", style)
    out = open_png(rendered.png)
    left, top, _, bottom = rendered.plate_box
    # Inside the plate's padding, left of the text: plate over background, no glyphs.
    red, _, blue = out.getpixel(((left + rendered.text_box[0]) // 2, (top + bottom) // 2))
    assert red / 255 == pytest.approx(opacity / 100, abs=0.02)
    assert (255 - blue) == 0  # white over blue keeps blue at 255


def test_seed_wish_half_transparent_white_plate(solid: Callable[..., bytes], open_png: Callable) -> None:
    style = parse_style("Обычный текст снизу, белая плашка с прозрачностью 50%")
    rendered = render_detailed(solid((0, 0, 0), (W, H)), "Подпись", style)
    out = open_png(rendered.png)
    left, top, _, bottom = rendered.plate_box
    assert rendered.plate_box[1] > H / 2
    value = out.getpixel(((left + rendered.text_box[0]) // 2, (top + bottom) // 2))[0]
    assert value / 255 == pytest.approx(0.5, abs=0.02)


def under_text_contrasts(before: bytes, rendered) -> list[float]:
    """Contrast of the chosen text colour against every pixel under the text, at full
    resolution, with the plate the renderer reports composited over it."""
    under = Image.open(io.BytesIO(before)).convert("RGB").crop(rendered.text_box)
    plan = rendered.colors
    if plan.plate is not None:
        under = Image.blend(under, Image.new("RGB", under.size, plan.plate), plan.plate_alpha)
    data = under.tobytes()
    return [contrast_ratio(plan.text, px) for px in zip(data[0::3], data[1::3], data[2::3], strict=True)]


@pytest.mark.parametrize("background", ["white", "black", "noise"])
def test_default_style_reads_on_any_background(
    solid: Callable[..., bytes], noisy: Callable[..., bytes], open_png: Callable, background: str
) -> None:
    before = {"white": solid((255, 255, 255)), "black": solid((0, 0, 0)), "noise": noisy()}[background]
    rendered = render_detailed(before, "Текст по умолчанию", TextStyle())
    ratios = under_text_contrasts(before, rendered)
    readable = sum(r >= MIN_CONTRAST for r in ratios) / len(ratios)
    assert readable >= (0.95 if background == "noise" else 1.0)
    # The reported colours are really what was drawn: glyph cores carry the text colour.
    out = open_png(rendered.png).convert("RGB").crop(rendered.text_box)
    assert sum(1 for px in pixels(out) if px == rendered.colors.text) > 50
    # A plain background needs no plate; noise cannot do without one.
    assert (rendered.colors.plate is not None) == (background == "noise")


def test_overflowing_line_wraps_inside_the_margins(solid: Callable[..., bytes], open_png: Callable) -> None:
    before = solid((255, 255, 255), (W, H))
    text = "Очень длинная подпись, которая ни за что не поместится в одну строку этой картинки"
    rendered = render_detailed(before, text, TextStyle(size="large", **BARE))
    left, top, right, bottom = changed_box(before, open_png(rendered.png))
    margin = W * (100 - 90) / 200
    assert len(rendered.lines) > 1
    assert " ".join(rendered.lines) == text
    assert margin - 2 <= left and right <= W - margin + 2
    assert 0 < top and bottom < H


def test_too_much_text_is_shrunk_never_clipped(solid: Callable[..., bytes], open_png: Callable) -> None:
    before = solid((255, 255, 255), (W, H))
    text = "\n".join(f"Строка {i} с текстом" for i in range(14))
    rendered = render_detailed(before, text, TextStyle(size="huge", **BARE))
    left, top, right, bottom = changed_box(before, open_png(rendered.png))
    assert rendered.font_size < round(min(W, H) * 0.12)
    assert list(rendered.lines) == text.split("\n")
    assert 0 < left and right < W and 0 < top and bottom < H


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise OSError("network is blocked in this test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    # Emoji must be read from disk during this test, not taken from an earlier one's cache.
    emoji_source._emoji_original.cache_clear()


def pixels(image: Image.Image) -> list[tuple[int, int, int]]:
    data = image.convert("RGB").tobytes()
    return list(zip(data[0::3], data[1::3], data[2::3], strict=True))


def test_emoji_render_in_colour_without_network(
    no_network: None, solid: Callable[..., bytes], open_png: Callable
) -> None:
    with pytest.raises(OSError, match="blocked"):
        urllib.request.urlopen(
            "https://cdn.jsdelivr.net/gh/twitter/twemoji/assets/72x72/1f600.png", timeout=1
        )
    before = solid((255, 255, 255), (W, H))
    rendered = render_detailed(before, "🍓🌈", TextStyle(**BARE))
    out = open_png(rendered.png).crop(rendered.text_box)
    colours = {px for px in pixels(out) if max(px) - min(px) > 80}  # clearly saturated
    assert len(colours) > 20
    hues = {(px[0] > 128, px[1] > 128, px[2] > 128) for px in colours}
    assert len(hues) >= 2  # not one tint of a single text colour


def test_emoji_sits_on_the_text_line(solid: Callable[..., bytes], open_png: Callable) -> None:
    before = solid((255, 255, 255), (W, H))
    rendered = render_detailed(before, "ТЕКСТ 🍋", TextStyle(size_px=60, **BARE))
    out = pixels(open_png(rendered.png))
    rows_emoji = {i // W for i, px in enumerate(out) if px[0] > 180 and px[1] > 150 and px[2] < 100}
    rows_text = {i // W for i, px in enumerate(out) if max(px) < 60}
    assert rows_emoji and rows_text
    emoji_mid = (min(rows_emoji) + max(rows_emoji)) / 2
    assert min(rows_text) <= emoji_mid <= max(rows_text)
    emoji_height, text_height = max(rows_emoji) - min(rows_emoji), max(rows_text) - min(rows_text)
    assert emoji_height == pytest.approx(text_height, rel=0.4)


def test_exif_orientation_is_applied(to_bytes: Callable[..., bytes], open_png: Callable) -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # stored landscape, shown rotated 90° clockwise
    data = to_bytes(Image.new("RGB", (300, 200), GREY), "JPEG", exif=exif.tobytes())
    out = open_png(render(data, "Вертикально", TextStyle()))
    assert out.size == (200, 300)


def test_a_marketplace_canvas_crops_the_centre_to_exact_pixels(
    to_bytes: Callable[..., bytes], open_png: Callable
) -> None:
    """A 1600×1200 picture for a 900×1200 card: scaled to cover, the left and right edges cut off."""
    picture = Image.new("RGB", (1600, 1200), (255, 0, 0))
    picture.paste((0, 0, 255), (320, 0, 1280, 1200))  # a blue middle, red edges
    rendered = render_detailed(
        to_bytes(picture), "Новинка", TextStyle(position="top", **BARE), canvas=(900, 1200)
    )
    out = open_png(rendered.png)
    assert out.size == rendered.size == (900, 1200)
    assert out.getpixel((5, 1190)) == out.getpixel((894, 1190)) == (0, 0, 255)  # only the middle stays
    assert rendered.text_box[2] <= 900  # the text is laid out on the card, not on the original
    with pytest.raises(ImageTooLarge):
        render_detailed(to_bytes(picture), "x", TextStyle(), Limits(max_pixels=1_000_000), (900, 1200))


def test_transparency_and_colour_profile_survive(to_bytes: Callable[..., bytes], open_png: Callable) -> None:
    image = Image.new("RGBA", (W, H), (0, 0, 0, 0))
    profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    out = open_png(render(to_bytes(image, icc_profile=profile), "Прозрачный фон", TextStyle()))
    assert out.mode == "RGBA"
    assert out.getpixel((0, 0))[3] == 0
    assert out.info["icc_profile"] == profile


@pytest.mark.parametrize("mode", ["L", "P", "CMYK", "1"])
def test_any_pixel_format_gives_rgb(to_bytes: Callable[..., bytes], open_png: Callable, mode: str) -> None:
    fmt = "JPEG" if mode == "CMYK" else "PNG"
    out = open_png(render(to_bytes(Image.new(mode, (200, 150)), fmt), "Режим", TextStyle()))
    assert out.mode == "RGB"


def test_sixteen_bit_grey_keeps_its_tone(to_bytes: Callable[..., bytes], open_png: Callable) -> None:
    data = to_bytes(Image.new("I;16", (200, 150), 0x8000))
    out = open_png(render(data, "16 бит", TextStyle(position="top")))
    assert out.getpixel((100, 140)) == (128, 128, 128)


def _png_header_only(width: int, height: int) -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\x00"))
        + chunk(b"IEND", b"")
    )


def test_bad_inputs_get_typed_errors(to_bytes: Callable[..., bytes]) -> None:
    good = to_bytes(Image.new("RGB", (200, 150), GREY), "JPEG")
    style = TextStyle()
    with pytest.raises(NotAnImage):
        render(b"%PDF-1.7 definitely not a picture", "Текст", style)
    with pytest.raises(CorruptImage):
        render(good[: len(good) // 2], "Текст", style)
    with pytest.raises(ImageTooLarge):
        render(good, "Текст", style, Limits(max_bytes=len(good) - 1))
    with pytest.raises(ImageTooLarge):
        render(_png_header_only(8000, 6000), "Текст", style)  # 48 MP, refused before decoding
    with pytest.raises(DecompressionBomb):
        render(_png_header_only(30000, 30000), "Текст", style)  # Pillow's own bomb guard
    with pytest.raises(EmptyText):
        render(good, " \n\t\n ", style)
    with pytest.raises(TextTooLong):
        render(good, "Ж" * 1001, style)
    with pytest.raises(TextTooLong):
        render(to_bytes(Image.new("RGB", (20, 20))), "Слишком много текста для такой картинки", style)
