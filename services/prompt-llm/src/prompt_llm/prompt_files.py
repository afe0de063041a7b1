"""System prompts live in versioned files beside the code: ``prompts/<operation>.v<N>.md``.

The highest version present is used; its version goes into cache keys, logs and metrics, so a
reworded prompt never serves answers cached under the old wording.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from importlib.resources import files
from string import Template

_NAME_RE = re.compile(r"^(?P<name>[a-z_]+)\.v(?P<version>\d+)\.md$")
_PACKAGE = "prompt_llm"


@dataclass(frozen=True)
class PromptFile:
    name: str
    version: int
    text: str

    @property
    def tag(self) -> str:
        """``write_prompt.v1``: what logs and cache keys carry."""
        return f"{self.name}.v{self.version}"

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.text.encode()).hexdigest()[:12]


def available_versions(name: str) -> list[int]:
    versions = []
    for entry in files(_PACKAGE).joinpath("prompts").iterdir():
        match = _NAME_RE.match(entry.name)
        if match and match["name"] == name:
            versions.append(int(match["version"]))
    return sorted(versions)


def load_prompt(name: str, version: int | None = None) -> PromptFile:
    """The prompt ``name`` at ``version``, or at its highest version when none is given."""
    versions = available_versions(name)
    if not versions:
        raise FileNotFoundError(f"no prompt file for {name!r}")
    chosen = versions[-1] if version is None else version
    if chosen not in versions:
        raise FileNotFoundError(f"prompt {name!r} has no version {chosen}; have {versions}")
    text = files(_PACKAGE).joinpath("prompts", f"{name}.v{chosen}.md").read_text(encoding="utf-8")
    return PromptFile(name=name, version=chosen, text=text.strip())


def render(template: PromptFile, **values: str) -> str:
    """Fill ``$placeholders``; a missing value is a bug in our code, so it raises."""
    return Template(template.text).substitute(values)
