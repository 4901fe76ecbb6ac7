"""Parsers for the compact option syntaxes shared by the CLI and the app's forms.

Errors name the field (`FieldError`); each interface words it as its flag or label.
"""

from __future__ import annotations

import re

from lmctui.errors import FieldError

_NUMBER = re.compile(r"^[0-9]{1,19}$")  # ASCII digits only: int() also reads "٣" and "²"
_RANGE = re.compile(r"^([0-9]{1,19})-([0-9]{1,19})$")
MAX_LIST = 4096  # values one list may expand to (0-99999999 must not fill the memory)


def parse_int_list(text: str, field: str = "seeds") -> list[int]:
    """'0,1,2' or '0-7' or '0-3,8' -> sorted unique ints."""
    values: set[int] = set()
    for part in (p.strip() for p in str(text).split(",")):
        if _NUMBER.match(part):
            values.add(int(part))
        elif (match := _RANGE.match(part)) and int(match[1]) <= int(match[2]):
            if int(match[2]) - int(match[1]) >= MAX_LIST:
                raise FieldError(field, f"names more than {MAX_LIST} values, got {text!r}")
            values.update(range(int(match[1]), int(match[2]) + 1))
        else:
            raise FieldError(field, f"takes numbers like 0,1,2 or ranges like 0-7, got {text!r}")
        if len(values) > MAX_LIST:
            raise FieldError(field, f"names more than {MAX_LIST} values, got {text!r}")
    return sorted(values)


def parse_csv_words(text: str, allowed: tuple[str, ...], field: str) -> tuple[str, ...]:
    """'naive,weight' -> ('naive', 'weight'), each one of `allowed`, duplicates dropped."""
    words = [w.strip() for w in str(text).split(",") if w.strip()]
    bad = [w for w in words if w not in allowed]
    if not words or bad:
        raise FieldError(field, f"takes a comma list of {', '.join(allowed)}, got {text!r}")
    return tuple(dict.fromkeys(words))


def parse_filter(text: str) -> tuple[str, str]:
    key, sep, value = str(text).partition("=")
    if not sep or not key.strip():
        raise FieldError("filter", f"takes key=value, got {text!r}")
    return key.strip(), value.strip()


def parse_run_at_epoch(text: str) -> tuple[str, int | None]:
    """'RUN' or 'RUN@EPOCH' (the init_from syntax)."""
    run, sep, epoch = str(text).partition("@")
    if not run.strip() or (sep and not _NUMBER.match(epoch)):
        raise FieldError("init_from", f"takes RUN or RUN@EPOCH, got {text!r}")
    return run.strip(), int(epoch) if sep else None


def matches_value(actual, wanted: str) -> bool:
    """Filter equality that treats 16 and '16', 0.05 and '5e-2' as the same."""
    if isinstance(actual, list):
        return wanted in [str(a) for a in actual]
    try:
        return float(actual) == float(wanted)
    except (TypeError, ValueError):
        return str(actual).lower() == wanted.lower()
