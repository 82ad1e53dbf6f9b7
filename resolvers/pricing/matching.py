"""Which price entry a model name means.

Names are compared in lower case, without surrounding blanks. A model name is looked
up, in this order, as
  1. itself;
  2. itself without a dated snapshot suffix, -YYYY-MM-DD, -YYYYMMDD or @YYYYMMDD
     (gpt-4o-2024-08-06 is gpt-4o, claude-sonnet-4@20250514 is claude-sonnet-4);
  3. the longest entry name that is a prefix of it at a '-' boundary
     (gemini-2.5-flash-preview-05-20 is gemini-2.5-flash; gpt-4o is not gpt-4);
then, when none of those is an entry, all three again without a provider prefix,
everything up to the last '/' (openai/gpt-4o is gpt-4o, models/gemini-1.5-pro is
gemini-1.5-pro). The provider only decides between entries that share the name found:
the one of the call's provider, else the first listed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Protocol, TypeVar

DATED = re.compile(r"(?:-\d{4}-\d{2}-\d{2}|-\d{8}|@\d{8})$")


class Priced(Protocol):
    @property
    def provider(self) -> str | None: ...


E = TypeVar("E", bound=Priced)


def normal(name: str) -> str:
    return name.strip().lower()


def candidates(model: str) -> list[str]:
    """The names `model` may be listed under, the best first."""
    full = normal(model)
    found: list[str] = []
    for name in dict.fromkeys([full, full.rsplit("/", 1)[-1]]):
        parts = name.split("-")
        prefixes = ["-".join(parts[:end]) for end in range(len(parts) - 1, 0, -1)]
        found.extend([name, DATED.sub("", name), *prefixes])
    return list(dict.fromkeys(found))


def find(by_name: Mapping[str, Sequence[E]], model: str | None, provider: str | None) -> E | None:
    """The entry that prices calls of `model` (by `provider`), or None."""
    if not model or not model.strip():
        return None
    for name in candidates(model):
        listed = by_name.get(name)
        if listed:
            wanted = normal(provider) if provider else None
            return next((e for e in listed if e.provider == wanted), listed[0])
    return None
