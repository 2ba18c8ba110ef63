"""Mastodon adapter (see ``entry``). Lazy: importing ``adapters.mastodon.spec`` (policy loading,
every CLI command) does not load Mastodon.py; ``build``/``connect`` load it on first use."""

from __future__ import annotations

import importlib
from typing import Any


def __getattr__(name: str) -> Any:
    if name.startswith("__"):
        raise AttributeError(name)
    return getattr(importlib.import_module("adapters.mastodon.entry"), name)
