"""aiogram's Telegram models, each built when first used instead of all ~590 at import.

``import aiogram.types`` ends by calling ``model_rebuild`` on every type it defines, so a process pays
for the validators of hundreds of Bot API objects it never sees: on a quick core 3–4 s of CPU and
~110 MB of resident memory, more than the rest of the gateway together (aiogram/aiogram#1876, #1891).
The models are declared with pydantic's ``defer_build``; only that loop builds them. Importing aiogram
through ``import_aiogram`` skips the loop and hands its namespace to the modules instead, so pydantic
resolves a model's forward references (``User`` in ``Message``, imported there only for type checkers)
whenever it builds one: an update's ``Update``, a call's ``SendMessage``, the ``Message`` it returns.
The gateway calls ``warm_up`` at start, so a model that cannot build fails the start, not a user's
first message, and the first update pays nothing.
"""

from __future__ import annotations

import sys
from typing import Any

from pydantic import BaseModel


def import_aiogram() -> None:
    """Import aiogram with its models deferred; nothing to do once aiogram's types are imported."""
    if "aiogram.types" in sys.modules:
        return
    namespace: dict[str, Any] = {}
    rebuild = BaseModel.__dict__["model_rebuild"]

    def record(cls: type[BaseModel], *, _types_namespace: dict[str, Any] | None = None, **kwargs: Any) -> Any:
        if _types_namespace is None or not cls.__module__.startswith("aiogram."):
            return rebuild.__func__(cls, _types_namespace=_types_namespace, **kwargs)
        namespace.update(_types_namespace)
        return None

    BaseModel.model_rebuild = classmethod(record)  # type: ignore[method-assign,assignment]
    try:
        import aiogram.methods
        import aiogram.types  # noqa: F401 - the import is the point
    finally:
        BaseModel.model_rebuild = rebuild  # type: ignore[method-assign]
    for module_name in {model.__module__ for model in aiogram_models()}:
        module = vars(sys.modules[module_name])
        for name, value in namespace.items():
            module.setdefault(name, value)


def aiogram_models() -> list[type[BaseModel]]:
    """Every Bot API type and method model aiogram exports."""
    import aiogram.methods
    import aiogram.types

    exported = [getattr(aiogram.types, name) for name in aiogram.types.__all__]
    exported += [getattr(aiogram.methods, name) for name in aiogram.methods.__all__]
    return [model for model in exported if isinstance(model, type) and issubclass(model, BaseModel)]


def warm_up(*models: type[BaseModel]) -> None:
    """Build these models now, not on first use (the gateway builds ``Update`` at start)."""
    for model in models:
        model.model_rebuild()
