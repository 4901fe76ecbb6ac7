"""Short, human-typable ids and unique-prefix lookup."""

from __future__ import annotations

import secrets
from typing import Callable, Iterable

from lmctui.errors import UserError

# No 0/o, 1/l/i: ids get read off screens and typed back in.
ALPHABET = "23456789abcdefghjkmnpqrstuvwxyz"
ID_LENGTH = 6


def is_id(value) -> bool:
    """A well-formed id: what `new_id` makes. Ids read from disk become paths only if they are."""
    return isinstance(value, str) and len(value) == ID_LENGTH and all(c in ALPHABET for c in value)


def new_id(taken: Iterable[str]) -> str:
    """A fresh id not in `taken`."""
    taken = set(taken)
    return new_id_where(lambda candidate: candidate not in taken)


def new_id_where(is_free: Callable[[str], bool]) -> str:
    """A fresh id for which `is_free` holds: lets a caller look ids up where they already are
    instead of gathering every id into a set first."""
    while True:
        candidate = "".join(secrets.choice(ALPHABET) for _ in range(ID_LENGTH))
        if is_free(candidate):
            return candidate


def resolve_prefix(ids: Iterable[str], prefix: str, what: str = "run") -> str:
    """The one id equal to or starting with `prefix`; a UserError otherwise."""
    ids = list(ids)
    prefix = prefix.strip().lower()
    if not prefix:
        raise UserError(f"empty {what} id")
    if prefix in ids:
        return prefix
    matches = sorted(i for i in ids if i.startswith(prefix))
    if not matches:
        raise UserError(f"no {what} with id {prefix!r}")
    if len(matches) > 1:
        shown = ", ".join(matches[:5]) + (" ..." if len(matches) > 5 else "")
        raise UserError(f"{what} id {prefix!r} is ambiguous: it matches {shown}")
    return matches[0]
