"""JSON read and written with orjson (several times faster than the standard library on a
10,000-run table), keeping the standard library's meaning: the same values, the same errors."""

from __future__ import annotations

import json

import orjson


def loads(raw: bytes | str):
    """Parse one JSON text; raises `json.JSONDecodeError` or `UnicodeDecodeError` as `json.loads` does.

    orjson refuses what Python's parser accepts (NaN and Infinity literals, integers beyond
    64 bits); those texts, and damaged ones, go to the standard parser, which decides and
    words the error.
    """
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return json.loads(raw)


def dumps_strict(value) -> bytes:
    """Strict JSON, one line: a NaN or an infinity at any depth becomes null; other objects become str."""
    return orjson.dumps(value, default=str, option=orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY)
