"""FastAPI dependencies shared by the route modules."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Request

from medialab_sandbox.fal.emulator import FalBackend


def emulator(request: Request) -> FalBackend:
    return request.app.state.emulator  # type: ignore[no-any-return]


Emulator = Annotated[FalBackend, Depends(emulator)]
Authorization = Annotated[str | None, Header()]
