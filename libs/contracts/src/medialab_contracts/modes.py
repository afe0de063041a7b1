"""The product's modes (SPEC.md M1–M8), the runners that execute them and the providers behind them."""

from enum import StrEnum


class Mode(StrEnum):
    create = "create"  # M1
    prompt = "prompt"  # M2
    edit = "edit"  # M3
    retouch = "retouch"  # M4
    text = "text"  # M5
    faceswap = "faceswap"  # M6
    upscale = "upscale"  # M7
    merge = "merge"  # M8


class Runner(StrEnum):
    """Which service consumes a job: the second token of its subject ``jobs.<runner>.<mode>``."""

    fal = "fal"
    wavespeed = "wavespeed"
    text = "text"
    llm = "llm"


class Provider(StrEnum):
    fal = "fal"
    wavespeed = "wavespeed"
    local = "local"
