"""The LLM's reading of a wish laid over the rules' reading, field by field.

The LLM (prompt-llm's ``llm.parse_style``) understands free phrasing the rules miss, so a
field it sets wins; but it is untrusted text: each field is validated against
``TextStyle`` on its own, and anything unknown, ``None`` or invalid leaves the rules' value.
"""

from collections.abc import Mapping

from medialab_contracts.text_style import TextStyle
from pydantic import ValidationError


def merge_styles(rules: TextStyle, llm: object) -> TextStyle:
    """``rules`` with every valid, non-null field of ``llm`` (a partial ``TextStyle`` dict)
    applied over it. ``llm`` that is not a mapping changes nothing."""
    if not isinstance(llm, Mapping):
        return rules
    merged = rules.model_dump(exclude_unset=True)
    for name, value in llm.items():
        if name not in TextStyle.model_fields or value is None:
            continue
        candidate = {**merged, name: value}
        try:
            TextStyle.model_validate(candidate)
        except ValidationError:
            continue
        merged = candidate
    return TextStyle.model_validate(merged)
