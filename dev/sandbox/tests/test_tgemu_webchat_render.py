"""The web chat draws a message's text and entities as HTML: every character escaped, markup only
from Telegram's entity types, links only to safe schemes, tags never crossed."""

from __future__ import annotations

from medialab_sandbox.telegram.webchat.render import entities_to_html


def entity(kind: str, offset: int, length: int, **extra: str) -> dict[str, object]:
    return {"type": kind, "offset": offset, "length": length, **extra}


def test_every_character_of_the_text_is_escaped() -> None:
    text = '<script>alert("x")</script> & <img src=x onerror=alert(1)>'
    assert entities_to_html(text, []) == (
        "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &lt;img src=x onerror=alert(1)&gt;"
    )


def test_entities_become_only_telegrams_tags() -> None:
    text = "жирный курсив код ссылка скрыто"
    entities = [
        entity("bold", 0, 6),
        entity("italic", 7, 6),
        entity("code", 14, 3),
        entity("text_link", 18, 6, url='https://example.org/?a=1&b="2"'),
        entity("spoiler", 25, 6),
        entity("mention", 0, 3),  # no markup of its own
    ]
    assert entities_to_html(text, entities) == (
        "<b>жирный</b> <i>курсив</i> <code>код</code> "
        '<a href="https://example.org/?a=1&amp;b=&quot;2&quot;" target="_blank" '
        'rel="noopener noreferrer">ссылка</a> <span class="tg-spoiler">скрыто</span>'
    )


def test_links_keep_only_safe_schemes() -> None:
    text = "раз два три"
    entities = [
        entity("text_link", 0, 3, url="javascript:alert(1)"),
        entity("text_link", 4, 3, url="data:text/html,<script>1</script>"),
        entity("text_link", 8, 3, url="tg://user?id=1"),
    ]
    assert entities_to_html(text, entities) == (
        'раз два <a href="tg://user?id=1" target="_blank" rel="noopener noreferrer">три</a>'
    )
    # A bare address is linked the way Telegram links it; "javascript:" text stays text.
    assert entities_to_html("example.org", [entity("url", 0, 11)]).startswith('<a href="http://example.org"')
    assert 'href="http://javascript:alert(1)"' in entities_to_html(
        "javascript:alert(1)", [entity("url", 0, 19)]
    )


def test_offsets_are_utf16_and_nesting_is_well_formed() -> None:
    # 🎨 is two UTF-16 units: the bold part starts after it.
    assert entities_to_html("🎨 Создать", [entity("bold", 3, 7)]) == "🎨 <b>Создать</b>"
    nested = entities_to_html("abcdef", [entity("bold", 0, 6), entity("italic", 2, 2)])
    assert nested == "<b>ab<i>cd</i>ef</b>"
    # Overlapping entities are split, never crossed.
    crossed = entities_to_html("abcdef", [entity("bold", 0, 4), entity("italic", 2, 4)])
    assert crossed == "<b>ab<i>cd</i></b><i>ef</i>"
    # Entities outside the text or of a broken shape are dropped.
    assert entities_to_html("ab", [entity("bold", 5, 2), {"type": "bold", "offset": "0"}]) == "ab"
    pre = entities_to_html("x = 1", [entity("pre", 0, 5, language='py"><b>')])
    assert pre == '<pre data-language="py&quot;&gt;&lt;b&gt;">x = 1</pre>'
