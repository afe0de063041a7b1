"""The FastAPI dependency the route modules share: the backend the app serves."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from medialab_sandbox.yookassa.emulator import YooKassaBackend


def _backend(request: Request) -> YooKassaBackend:
    return request.app.state.emulator  # type: ignore[no-any-return]


Emulator = Annotated[YooKassaBackend, Depends(_backend)]
