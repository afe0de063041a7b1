"""What the emulated LLM answers when no test scripted a reply: what a real model would give for
the task its system prompt sets, deterministically.

- a translation request ("translate … into English") → an English rendering of the message
  (``llm_words``), with nothing said around it;
- a request for a JSON object → the object, with the caption-style fields the wish mentions;
- a request to write a prompt → a long picture description in the language the system prompt
  asks for, in its order (subject, appearance, surroundings, lighting, style);
- anything else → a short plain answer that quotes the message.

The answers follow the instructions the way a careful model does; they are not tuned to our
validators: a validator that refuses one of them refuses a plausible real answer.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from medialab_sandbox.fal.llm_words import translate
from medialab_sandbox.fal.recorder import LlmCall

_CYRILLIC_RE = re.compile(r"[А-Яа-яЁё]")
_LETTER_RE = re.compile(r"[^\W\d_]")


def _mostly_russian(text: str) -> bool:
    letters = _LETTER_RE.findall(text)
    return bool(letters) and len(_CYRILLIC_RE.findall(text)) * 2 > len(letters)


def _wants_translation(system: str) -> bool:
    lowered = system.lower()
    return ("translat" in lowered and "english" in lowered) or "переведи" in lowered


def _wants_json(system: str) -> bool:
    return "json" in system.lower()


def _wants_prompt(system: str) -> bool:
    return re.search(r"prompt|промпт", system, re.IGNORECASE) is not None


# ── caption style (the JSON a text-style system prompt asks for) ────────────────────────────────
_COLORS: tuple[tuple[str, str], ...] = (
    ("бел", "#ffffff"),
    ("чёрн", "#000000"),
    ("черн", "#000000"),
    ("красн", "#ff0000"),
    ("жёлт", "#ffff00"),
    ("желт", "#ffff00"),
    ("зелён", "#00a000"),
    ("зелен", "#00a000"),
    ("голуб", "#00bfff"),
    ("син", "#0000ff"),
    ("оранжев", "#ff8c00"),
    ("фиолетов", "#8000ff"),
    ("розов", "#ff69b4"),
    ("сер", "#808080"),
    ("золот", "#ffd700"),
    ("коричнев", "#8b4513"),
)
_SIZES: tuple[tuple[str, str], ...] = (
    ("маленьк", "small"),
    ("мелк", "small"),
    ("средн", "medium"),
    ("крупн", "large"),
    ("больш", "large"),
    ("огромн", "huge"),
)
_POSITIONS: tuple[tuple[str, str], ...] = (
    ("сверху", "top"),
    ("вверху", "top"),
    ("наверху", "top"),
    ("по центру", "center"),
    ("посередине", "center"),
    ("снизу", "bottom"),
    ("внизу", "bottom"),
)
_PLATE_WORDS = ("плашк", "подложк", "фон под текстом")
_WORD_RE = re.compile(r"[а-яё]+")


def _color_of(word: str) -> str | None:
    return next((hex_ for stem, hex_ in _COLORS if word.startswith(stem)), None)


def _style(wish: str) -> dict[str, Any]:
    """The fields the wish names: a colour word right before «плашк…» colours the plate."""
    text = wish.lower()
    words = _WORD_RE.findall(text)
    style: dict[str, Any] = {}
    if px := re.search(r"(\d{1,3})\s*(?:px|пикс)", text):
        style["size_px"] = max(8, min(1000, int(px.group(1))))
    elif size := next((value for stem, value in _SIZES if any(w.startswith(stem) for w in words)), None):
        style["size"] = size
    if "жирн" in text:
        style["bold"] = "не жирн" not in text
    for index, word in enumerate(words):
        color = _color_of(word)
        if color is None:
            continue
        follows = words[index + 1] if index + 1 < len(words) else ""
        on_plate = any(follows.startswith(stem) for stem in ("плашк", "подложк", "полупрозрачн"))
        style.setdefault("plate_color" if on_plate else "color", color)
    if position := next((value for phrase, value in _POSITIONS if phrase in text), None):
        style["position"] = position
    if "без плашки" in text or "без фона" in text:
        style["plate"] = False
    elif any(word in text for word in _PLATE_WORDS) or "plate_color" in style:
        style["plate"] = True
        if "полупрозрачн" in text:
            style["plate_opacity_pct"] = 50
    if "без обводки" in text:
        style["stroke"] = False
    elif "обводк" in text or "контур" in text:
        style["stroke"] = True
    return style


# ── a written prompt ────────────────────────────────────────────────────────────────────────────
_RUSSIAN_PROMPT = (
    "В центре кадра — {subject}. Главный объект показан целиком, чуть ниже уровня глаз, он занимает "
    "около двух третей кадра и сразу притягивает взгляд зрителя своей выразительной формой.\n\n"
    "Детали проработаны тщательно: фактуры поверхностей читаются ясно, мелкие элементы выглядят "
    "естественно и достоверно, цвета глубокие и насыщенные, а каждая деталь подчёркивает характер "
    "сцены и делает её цельной и живой.\n\n"
    "Окружение дополняет главный объект и не спорит с ним: передний план слегка размыт, на среднем "
    "плане видны детали места, задний план уходит вдаль мягкими слоями воздушной перспективы. Время "
    "суток и погода выбраны так, чтобы поддержать настроение сцены.\n\n"
    "Освещение мягкое и направленное: тёплый свет падает слева и сверху, выделяет объёмы и "
    "фактуры, оставляет глубокие, но прозрачные тени справа. Лёгкие блики на гладких поверхностях "
    "оживляют картинку, а контровой свет отделяет объект от фона тонким сияющим контуром.\n\n"
    "Стиль — детализированная художественная фотография с естественной цветопередачей. Палитра "
    "построена на сочетании тёплых и приглушённых холодных оттенков, композиция спокойная и "
    "уравновешенная, с малой глубиной резкости. Атмосфера сцены цельная, настроение задумчивое и "
    "немного торжественное, каждая деталь работает на общее впечатление."
)
_ENGLISH_PROMPT = (
    "In the centre of the frame: {subject}. The main subject is shown in full from slightly below "
    "eye level, filling about two thirds of the frame. Surfaces and small details are rendered "
    "with care, colours are deep and rich. The surroundings support the subject: a softly blurred "
    "foreground, a detailed middle ground and a background fading into aerial perspective. Soft "
    "directional warm light falls from the upper left, shaping volumes and leaving deep but "
    "transparent shadows, with gentle highlights and a thin rim light. Style: detailed fine-art "
    "photography with natural colours, a balanced calm composition and a shallow depth of field."
)


def _written_prompt(system: str, words: str) -> str:
    subject = " ".join(words.split()).rstrip(".!?")
    if _mostly_russian(system):
        return _RUSSIAN_PROMPT.format(subject=subject)
    return _ENGLISH_PROMPT.format(subject=translate(subject))


def reply(call: LlmCall) -> str:
    system = call.system_prompt or ""
    if _wants_translation(system):
        return translate(call.prompt.strip())
    if _wants_json(system):
        return json.dumps(_style(call.prompt), ensure_ascii=False)
    if _wants_prompt(system):
        return _written_prompt(system, call.prompt)
    digest = hashlib.sha256(f"{call.model}\n{system}\n{call.prompt}".encode()).hexdigest()[:8]
    return f"Answer {digest}: {call.prompt.strip()}"
