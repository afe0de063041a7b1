"""Rule-based reading of a style wish in plain Russian («Крупный белый текст в центре, на
чёрной плашке») into a ``TextStyle``. It never fails: what it does not understand stays
automatic. Numbers are clamped into the model's bounds (the user meant "a lot", not an error).

Numeric phrases are read first and blanked out of a working copy, so «размытие 5px» can
never be taken for a font size; words (size, position, colours) are read from the whole
text.
"""

import re
from collections.abc import Callable
from typing import Any

from medialab_contracts.text_style import Align, Position, SizeWord, TextStyle

SKIP_WORDS = frozenset(
    {"", "/skip", "skip", "-", "пропустить", "пропусти", "по умолчанию", "стандартно", "нет"}
)
DEFAULT_BLUR_PX = 8
"""«с размытием» without a radius."""
SEMI_TRANSPARENT_PCT = 50

# Every ending a Russian adjective takes (all genders, numbers and cases).
_ADJ = r"(?:ый|ий|ой|ая|яя|ое|ее|ые|ие|ого|его|ому|ему|ым|им|ом|ем|ую|юю|ых|их|ыми|ими|ей)"
_NUM = r"(\d{1,4}(?:[.,]\d+)?)"
_SEP = r"\s*(?:[-:=—–]\s*|в\s+|на\s+)?"  # «размер: 96», «прозрачность — 50», «ширина в 80»
_PX = r"(?:px|пикс\w*|пкс|пх)"
_PCT = r"(?:%|процент\w*)"

COLORS: dict[str, str] = {
    "бел": "#ffffff",
    "черн": "#000000",
    "красн": "#ff0000",
    "желт": "#ffff00",
    "син": "#0000ff",
    "голуб": "#42aaff",
    "зелен": "#00a000",
    "оранжев": "#ff8c00",
    "розов": "#ff69b4",
    "фиолетов": "#8b00ff",
    "сер": "#808080",
    "золот": "#ffd700",
    "золотист": "#ffd700",
    "серебрист": "#c0c0c0",
    "серебрян": "#c0c0c0",
    "коричнев": "#8b4513",
    "бирюзов": "#40e0d0",
    "бордов": "#800020",
    "сиренев": "#c8a2c8",
    "бежев": "#f5f5dc",
    "салатов": "#99ff99",
}
_COLOR_WORD = re.compile(r"\b(" + "|".join(sorted(COLORS, key=len, reverse=True)) + r")" + _ADJ + r"\b")
_HEX = re.compile(r"#([0-9a-f]{6}|[0-9a-f]{3})\b")

SIZE_STEMS: tuple[tuple[str, SizeWord], ...] = (
    (r"очень\s+(?:крупн|больш)" + _ADJ, SizeWord.huge),
    (r"огромн" + _ADJ + r"|гигантск" + _ADJ, SizeWord.huge),
    (r"крупн" + _ADJ + r"|крупно|крупнее|больш" + _ADJ + r"|побольше", SizeWord.large),
    (r"обычн" + _ADJ + r"|нормальн" + _ADJ + r"|стандартн" + _ADJ, SizeWord.normal),
    (r"средн" + _ADJ, SizeWord.medium),
    (
        r"маленьк"
        + _ADJ
        + r"|мелк"
        + _ADJ
        + r"|мелко|небольш"
        + _ADJ
        + r"|крошечн"
        + _ADJ
        + r"|поменьше|помельче",
        SizeWord.small,
    ),
)
# A size word describing one of these nouns is not about the letters («большой отступ»).
_NOT_TEXT_NOUNS = r"(?:плашк|подложк|фон|отступ|расстояни|размыти|обводк|контур|част|интервал)"
_SIZE_WORD = re.compile(
    r"\b(" + "|".join(f"(?:{stems})" for stems, _ in SIZE_STEMS) + r")\b(?!\s+" + _NOT_TEXT_NOUNS + ")"
)

_TOP = r"сверху|вверху|наверху|вверх|наверх|верх|верху|верха|верхн" + _ADJ
_BOTTOM = r"снизу|внизу|вниз|понизу|низ|низу|низа|нижн" + _ADJ
_CENTER = (
    r"по\s+центру|в\s+центре|центр\w*|посередин\w*|по\s+середин\w*|в\s+середин\w*|середин\w*|средн"
    + _ADJ
    + r"\s+част\w*"
)
_POSITION = re.compile(rf"\b(?:(?P<top>{_TOP})|(?P<bottom>{_BOTTOM})|(?P<center>{_CENTER}))\b")
_ALIGN = re.compile(
    r"\b(?:(?P<left>по\s+левому\s+краю|слева|влево|левому\s+краю)|(?P<right>по\s+правому\s+краю|справа|вправо|правому\s+краю))\b"
)

_PLATE_NOUN = r"(?:плашк\w*|подложк\w*|подкладк\w*|фон\w*)"
_NO_PLATE = re.compile(
    rf"\b(?:без|нет|убрать|убери|не\s+нужн\w*)\s+(?:\w+\s+)?{_PLATE_NOUN}|\b{_PLATE_NOUN}\s+не\s+(?:нужн\w*|надо)"
)
_PLATE = re.compile(r"\b(?:плашк\w*|подложк\w*|подкладк\w*)|\bна\s+(?:\w+\s+)?фоне\b")
_NO_STROKE = re.compile(r"\bбез\s+(?:обводк\w*|контур\w*|окантовк\w*)")
_BOLD = re.compile(
    r"\b(?P<off>не\s*жирн\w*|без\s+жирн\w*|тонк\w*\s+шрифт\w*|обычн\w*\s+начертани\w*)"
    r"|\b(?P<on>жирн\w*|полужирн\w*|толст\w*\s+шрифт\w*)"
)

_OPACITY = re.compile(
    rf"\b(полу|не)?прозрачн\w*(?:\s+(?:плашки|фона|подложки))?(?:{_SEP}{_NUM}\s*({_PCT})?)?"
)
_DENSITY = re.compile(rf"\b(?:плотност\w*|непрозрачност\w*){_SEP}{_NUM}\s*{_PCT}")
_BLUR = re.compile(
    rf"\b(без\s+)?(?:радиус\w*\s+)?(?:размыт\w*|блюр\w*|blur)(?:\s+(?:фона|плашки|подложки|краев))?"
    rf"(?:\s+(?:с\s+)?радиус\w*)?(?:{_SEP}(\d{{1,3}})(?:\s*{_PX})?(?!\s*[%\d]))?"
)
_EDGE = r"(низа|нижнего\s+края|снизу|верха|верхнего\s+края|сверху|края|краев)"
_OFFSET = re.compile(
    rf"\b(?:расстояни\w*|отступ\w*|смещени\w*|пол[еяю]|отодвин\w*)(?:\s+от)?(?:\s+{_EDGE})?{_SEP}{_NUM}\s*({_PCT}|{_PX})"
    rf"(?:\s+от\s+{_EDGE})?"
)
_OFFSET_TAIL = re.compile(rf"\b{_NUM}\s*{_PCT}\s+от\s+{_EDGE}")
_STROKE = re.compile(
    rf"\b(?:обводк\w*|контур\w*|окантовк\w*|обведен\w*|stroke)(?:{_SEP}(\d{{1,2}})\s*(?:{_PX})?)?"
)
_LINE_SPACING = re.compile(
    rf"\b(?:межстрочн\w*(?:\s+интервал\w*)?|интервал\w*(?:\s+между\s+строк\w*)?){_SEP}(\d(?:[.,]\d+)?)"
)
_MAX_WIDTH = re.compile(
    rf"\b(?:максимальн\w*\s+)?ширин\w*(?:\s+(?:текста|блока|строк\w*))?{_SEP}(\d{{1,3}})\s*{_PCT}"
)
_SIZE_PX = re.compile(rf"\b(\d{{1,4}})\s*{_PX}")
_SIZE_NUMBER = re.compile(
    rf"\b(?:размер\w*|кегл\w*|шрифт\w*|высот\w*)(?:\s+(?:шрифта|текста|букв))?{_SEP}(\d{{1,4}})\b(?!\s*{_PCT})"
)

_CLAUSE_SPLIT = re.compile(r"(?<!\d)[,.](?!\d)|[;!?\n()]|\s(?:и|а|но|плюс|также)\s")
_WORD = re.compile(r"#[0-9a-f]{3,6}\b|[a-zа-я0-9]+")
_ANCHORS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("plate", re.compile(r"^(?:плашк|подложк|подкладк|фон|прямоугольник)")),
    ("stroke", re.compile(r"^(?:обводк|контур|окантовк|обведен)")),
    ("text", re.compile(r"^(?:текст|надпис|букв|шрифт|слов|строк)")),
)


def _normalize(wish: str) -> str:
    text = wish.lower().replace("ё", "е").replace("\u00a0", " ")
    return re.sub(r"[ \t]+", " ", text).strip()


def _number(raw: str) -> float:
    return float(raw.replace(",", "."))


def _clamp(value: float, low: float, high: float) -> float:
    return max(low, min(high, value))


class _Reader:
    """Collects fields while consuming the numeric phrases of one wish."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.work = text
        self.fields: dict[str, Any] = {}

    def consume(self, pattern: re.Pattern[str], handle: Callable[[re.Match[str]], None]) -> None:
        for match in pattern.finditer(self.work):
            handle(match)
        self.work = pattern.sub(lambda m: " " * len(m.group(0)), self.work)

    def set_position_from_edge(self, edge: str | None) -> None:
        """«от низа» implies the bottom, «от верха» the top; a bare «от края» neither."""
        if edge is None:
            return
        if "низ" in edge or "нижн" in edge:
            self.fields.setdefault("_edge_position", Position.bottom)
        elif "верх" in edge:
            self.fields.setdefault("_edge_position", Position.top)

    # Numeric phrases, most specific first.
    def opacity(self, match: re.Match[str]) -> None:
        prefix, raw, unit = match.group(1), match.group(2), match.group(3)
        if prefix == "полу" and raw is None:
            self.fields["plate_opacity_pct"] = SEMI_TRANSPARENT_PCT
            return
        if raw is None:
            self.fields["plate_opacity_pct"] = 100 if prefix == "не" else SEMI_TRANSPARENT_PCT
            return
        value = _number(raw)
        if unit is None and value <= 1:
            value *= 100  # «прозрачность 0.5»
        value = _clamp(value, 0, 100)
        self.fields["plate_opacity_pct"] = round(value if prefix == "не" else 100 - value)

    def density(self, match: re.Match[str]) -> None:
        self.fields["plate_opacity_pct"] = round(_clamp(_number(match.group(1)), 0, 100))

    def blur(self, match: re.Match[str]) -> None:
        if match.group(1):
            self.fields["plate_blur_px"] = 0
        elif match.group(2) is not None:
            self.fields["plate_blur_px"] = int(_clamp(int(match.group(2)), 0, 100))
        else:
            self.fields.setdefault("plate_blur_px", DEFAULT_BLUR_PX)

    def offset(self, match: re.Match[str]) -> None:
        edge = match.group(1) or match.group(4)
        if not re.fullmatch(_PCT, match.group(3)):
            return  # offsets in pixels depend on the picture: left automatic
        self.fields["offset_pct"] = _clamp(_number(match.group(2)), 0, 45)
        self.set_position_from_edge(edge)

    def offset_tail(self, match: re.Match[str]) -> None:
        self.fields["offset_pct"] = _clamp(_number(match.group(1)), 0, 45)
        self.set_position_from_edge(match.group(2))

    def stroke(self, match: re.Match[str]) -> None:
        self.fields["stroke"] = True
        if match.group(1):
            self.fields["stroke_width_px"] = int(_clamp(int(match.group(1)), 1, 50))

    def line_spacing(self, match: re.Match[str]) -> None:
        self.fields["line_spacing"] = _clamp(_number(match.group(1)), 0.8, 3.0)

    def max_width(self, match: re.Match[str]) -> None:
        self.fields["max_width_pct"] = int(_clamp(int(match.group(1)), 20, 100))

    def size_px(self, match: re.Match[str]) -> None:
        self.fields["size_px"] = int(_clamp(int(match.group(1)), 8, 1000))


def _assign_colors(text: str, fields: dict[str, Any]) -> None:
    """Colour words go to the nearest noun of their clause: «плашка» → plate, «обводка» →
    stroke, «текст» or none → text. «на белом» (no noun) means the background."""
    for clause in _CLAUSE_SPLIT.split(text):
        words = [m.group(0) for m in _WORD.finditer(clause or "")]
        anchors = [(i, kind) for i, word in enumerate(words) for kind, rx in _ANCHORS if rx.match(word)]
        for i, word in enumerate(words):
            color = _color_of(word)
            if color is None:
                continue
            if anchors:
                # Nearest noun; on a tie the one after the adjective (Russian word order).
                _, _, kind = min((abs(j - i), j < i, kind) for j, kind in anchors)
            else:
                kind = "plate" if i > 0 and words[i - 1] == "на" else "text"
            fields[{"text": "color", "plate": "plate_color", "stroke": "stroke_color"}[kind]] = color
            if kind == "stroke":
                fields["stroke"] = True


def _color_of(word: str) -> str | None:
    if match := _HEX.fullmatch(word):
        digits = match.group(1)
        return "#" + (digits if len(digits) == 6 else "".join(ch * 2 for ch in digits))
    if match := _COLOR_WORD.fullmatch(word):
        return COLORS[match.group(1)]
    return None


def asks_for_defaults(wish: str | None) -> bool:
    """``None``, empty, ``/skip`` and the like: nothing to parse."""
    return _normalize(wish or "") in SKIP_WORDS


def parse_style(wish: str | None) -> TextStyle:
    """The style a Russian wish asks for; ``None``, empty or ``/skip`` → all defaults."""
    if asks_for_defaults(wish):
        return TextStyle()
    text = _normalize(wish or "")
    reader = _Reader(text)
    reader.consume(_DENSITY, reader.density)
    reader.consume(_OPACITY, reader.opacity)
    reader.consume(_BLUR, reader.blur)
    reader.consume(_OFFSET, reader.offset)
    reader.consume(_OFFSET_TAIL, reader.offset_tail)
    reader.consume(_STROKE, reader.stroke)
    reader.consume(_LINE_SPACING, reader.line_spacing)
    reader.consume(_MAX_WIDTH, reader.max_width)
    reader.consume(_SIZE_PX, reader.size_px)
    reader.consume(_SIZE_NUMBER, reader.size_px)
    fields = reader.fields
    edge_position = fields.pop("_edge_position", None)

    for match in _SIZE_WORD.finditer(text):
        for stems, size in SIZE_STEMS:
            if re.fullmatch(stems, match.group(1)):
                fields["size"] = size
                break

    vertical = [m.lastgroup for m in _POSITION.finditer(text) if m.lastgroup]
    chosen = [Position(v) for v in vertical if v in ("top", "bottom")] or [Position(v) for v in vertical]
    if chosen:
        fields["position"] = chosen[-1]
    elif edge_position is not None:
        fields["position"] = edge_position
    if aligns := [m.lastgroup for m in _ALIGN.finditer(text) if m.lastgroup]:
        fields["align"] = Align(aligns[-1])

    if bold := [m.lastgroup for m in _BOLD.finditer(text)]:
        fields["bold"] = bold[-1] == "on"
    if _NO_STROKE.search(text):
        fields["stroke"] = False
        fields.pop("stroke_width_px", None)

    _assign_colors(text, fields)
    if _NO_PLATE.search(text):
        fields["plate"] = False
    elif (
        _PLATE.search(text)
        or {"plate_color", "plate_opacity_pct"} & fields.keys()
        or fields.get("plate_blur_px")
    ):
        fields["plate"] = True
    return TextStyle(**fields)
