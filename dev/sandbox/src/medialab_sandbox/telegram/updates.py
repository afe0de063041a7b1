"""The per-bot queue of updates, shared by getUpdates and webhook delivery."""

from __future__ import annotations

import random
from typing import Any

from .notify import Signal
from .objects import Update

# Telegram leaves these out unless a bot asks for them explicitly.
EXCLUDED_BY_DEFAULT = frozenset({"chat_member", "message_reaction", "message_reaction_count"})


class UpdateQueue:
    def __init__(self) -> None:
        # Telegram starts every bot at an arbitrary large id, never at 1.
        self._next_id = random.randint(100_000_000, 900_000_000)
        self._pending: list[Update] = []
        self.allowed: frozenset[str] | None = None
        self.signal = Signal()

    def push(self, **payload: Any) -> Update | None:
        """Queue an update unless the bot's allowed_updates filter drops it."""
        update = Update(update_id=self._next_id, **payload)
        if not self.accepts(update.kind):
            return None
        self._next_id += 1
        self._pending.append(update)
        self.signal.bump()
        return update

    def accepts(self, kind: str) -> bool:
        if self.allowed is None:
            return kind not in EXCLUDED_BY_DEFAULT
        return kind in self.allowed

    def set_allowed(self, kinds: list[str]) -> None:
        # An empty list means "back to the default", as in Telegram.
        self.allowed = frozenset(kinds) or None

    def confirm(self, offset: int) -> None:
        """Apply getUpdates' offset: forget confirmed updates (negative: keep the last -offset)."""
        if offset > 0:
            self._pending = [u for u in self._pending if u.update_id >= offset]
        elif offset < 0:
            self._pending = self._pending[offset:]

    def batch(self, limit: int) -> list[Update]:
        return self._pending[:limit]

    def first(self) -> Update | None:
        return self._pending[0] if self._pending else None

    def clear(self) -> None:
        self._pending.clear()

    def __len__(self) -> int:
        return len(self._pending)
