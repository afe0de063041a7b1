"""The style a job is drawn with: the rules' reading of the wish, with the LLM's laid over it
when it answers in time. The LLM is optional: any failure leaves the rules' reading."""

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from medialab_contracts.errors import MediaLabError
from medialab_contracts.text_style import TextStyle
from pydantic import ValidationError

from text_render.style_merge import merge_styles
from text_render.style_parser import asks_for_defaults, parse_style

log = logging.getLogger(__name__)

StyleAsker = Callable[[str], Awaitable[Mapping[str, Any] | None]]
"""Asks the LLM to read a wish; ``None`` when it declined (prompt-llm's ``fallback``)."""


async def resolve_style(wish: str | None, ask_llm: StyleAsker | None) -> TextStyle:
    rules = parse_style(wish)
    if ask_llm is None or wish is None or asks_for_defaults(wish):
        return rules
    try:
        llm_style = await ask_llm(wish.strip())
    except (MediaLabError, TimeoutError, ValidationError) as error:
        log.info("style wish read by rules only: %s", error)
        return rules
    return merge_styles(rules, llm_style)
