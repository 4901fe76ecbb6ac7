"""Persistence: the tinydb registry and the per-run folders. No torch at import time."""

from lmctui.store.registry import SCHEMA_VERSION, TABLES, Registry, resolve_home

__all__ = ["Registry", "SCHEMA_VERSION", "TABLES", "resolve_home"]
