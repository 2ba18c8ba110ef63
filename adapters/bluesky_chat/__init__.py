"""Bluesky group chats (see ``entry``). Lazy like the other adapters: importing ``spec`` for policy
loading loads no HTTP client; ``build``/``connect`` load ``entry`` on first use."""

from __future__ import annotations

import importlib
from typing import Any


def __getattr__(name: str) -> Any:
    if name.startswith("__"):
        raise AttributeError(name)
    return getattr(importlib.import_module("adapters.bluesky_chat.entry"), name)
