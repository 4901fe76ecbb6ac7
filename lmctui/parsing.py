"""Parsers for the compact option syntaxes shared by the CLI and the TUI forms."""

from __future__ import annotations

import re

from lmctui.errors import UserError

_RANGE = re.compile(r"^(\d+)-(\d+)$")


def parse_int_list(text: str, option: str = "--seeds") -> list[int]:
    """'0,1,2' or '0-7' or '0-3,8' -> sorted unique ints."""
    values: set[int] = set()
    for part in (p.strip() for p in str(text).split(",")):
        if part.isdigit():
            values.add(int(part))
            continue
        match = _RANGE.match(part)
        if not match or int(match[1]) > int(match[2]):
            raise UserError(f"{option} takes numbers like 0,1,2 or ranges like 0-7, got {text!r}")
        values.update(range(int(match[1]), int(match[2]) + 1))
    return sorted(values)


def parse_csv_words(text: str, allowed: tuple[str, ...], option: str) -> list[str]:
    words = [w.strip() for w in str(text).split(",") if w.strip()]
    bad = [w for w in words if w not in allowed]
    if not words or bad:
        raise UserError(f"{option} takes a comma list of {', '.join(allowed)}, got {text!r}")
    return list(dict.fromkeys(words))


def parse_filter(text: str) -> tuple[str, str]:
    key, sep, value = str(text).partition("=")
    if not sep or not key.strip():
        raise UserError(f"--filter takes key=value, got {text!r}")
    return key.strip(), value.strip()


def parse_run_at_epoch(text: str) -> tuple[str, int | None]:
    """'RUN' or 'RUN@EPOCH' (the --init-from syntax)."""
    run, sep, epoch = str(text).partition("@")
    if not run or (sep and not epoch.isdigit()):
        raise UserError(f"--init-from takes RUN or RUN@EPOCH, got {text!r}")
    return run, int(epoch) if sep else None


def matches_value(actual, wanted: str) -> bool:
    """Filter equality that treats 16 and '16', 0.05 and '5e-2' as the same."""
    if isinstance(actual, list):
        return wanted in [str(a) for a in actual]
    try:
        return float(actual) == float(wanted)
    except (TypeError, ValueError):
        return str(actual).lower() == wanted.lower()
