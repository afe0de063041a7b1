"""FastAPI dependencies shared by the route modules."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Request

from medialab_sandbox.fal.emulator import FalEmulator


def emulator(request: Request) -> FalEmulator:
    return request.app.state.emulator  # type: ignore[no-any-return]


Emulator = Annotated[FalEmulator, Depends(emulator)]
Authorization = Annotated[str | None, Header()]
