"""Money is integer kopecks everywhere: a float can never become a price or a balance."""

from typing import Annotated

from pydantic import Field, StrictInt

KOPECKS_PER_RUBLE = 100
MAX_AMOUNT = 100_000_000  # 1 000 000 ₽: any single price, top-up or balance change above it is a mistake

Kopecks = Annotated[StrictInt, Field(ge=0, le=MAX_AMOUNT)]
"""A non-negative amount in kopecks; pydantic refuses floats, strings and bools."""

PositiveKopecks = Annotated[StrictInt, Field(gt=0, le=MAX_AMOUNT)]


def rubles(amount: int) -> int:
    """Whole rubles to kopecks."""
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise TypeError("amount must be an int number of rubles")
    return amount * KOPECKS_PER_RUBLE


def format_rub(kopecks: int) -> str:
    """``2400`` → ``"24 ₽"``, ``2450`` → ``"24,50 ₽"``, ``-300`` → ``"−3 ₽"``."""
    sign = "−" if kopecks < 0 else ""
    whole, frac = divmod(abs(kopecks), KOPECKS_PER_RUBLE)
    body = f"{whole:,}".replace(",", "\u00a0")
    if frac:
        body += f",{frac:02d}"
    return f"{sign}{body} ₽"
