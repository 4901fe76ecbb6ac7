"""JSON read and written with orjson (several times faster than the standard library on a
10,000-run table), keeping the standard library's meaning: the same values, the same errors."""

from __future__ import annotations

import json

import orjson

# Nesting deeper than this is refused in files a person writes (configs, cluster settings):
# nothing lmctui reads nests past a handful of levels, and walking a hostile 100,000-deep
# document would exhaust Python's recursion limit.
MAX_DEPTH = 64


def loads(raw: bytes | str, max_depth: int | None = None):
    """Parse one JSON text; raises `json.JSONDecodeError` or `UnicodeDecodeError` as `json.loads` does.

    orjson refuses what Python's parser accepts (NaN and Infinity literals, integers beyond
    64 bits); those texts, and damaged ones, go to the standard parser, which decides and
    words the error. A text nested too deeply for the standard parser, or deeper than
    `max_depth` when given, raises `json.JSONDecodeError` too.
    """
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        try:
            value = json.loads(raw)
        except RecursionError:
            raise _too_deep(raw, "too deeply for this parser") from None
    if max_depth is not None and depth(value) > max_depth:
        raise _too_deep(raw, f"deeper than {max_depth} levels")
    return value


def depth(value) -> int:
    """How deeply lists and objects nest in `value` (a scalar: 0), walked without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is None:
            continue
        deepest = max(deepest, level)
        stack.extend((child, level + 1) for child in children if isinstance(child, (dict, list)))
    return deepest


def _too_deep(raw: bytes | str, how: str) -> json.JSONDecodeError:
    text = raw.decode("utf-8", errors="replace") if isinstance(raw, bytes) else raw
    return json.JSONDecodeError(f"lists and objects nested {how}", text, 0)


def dumps_strict(value) -> bytes:
    """Strict JSON, one line: a NaN or an infinity at any depth becomes null; other objects become str."""
    return orjson.dumps(value, default=str, option=orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY)
