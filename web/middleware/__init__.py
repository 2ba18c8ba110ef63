"""ASGI middleware that guards every request before routing: the Host allow-list and the
crafted-input checks. ``install(app, settings)`` adds them in the right order."""

from __future__ import annotations

from fastapi import FastAPI

from hub.config import Settings
from web.middleware.hosts import AllowedHosts
from web.middleware.input import InputGuard

__all__ = ["AllowedHosts", "InputGuard", "install"]


def install(app: FastAPI, settings: Settings) -> None:
    """Added last, so they run first: the Host check, then the input checks."""
    app.add_middleware(InputGuard)
    app.add_middleware(AllowedHosts, settings=settings)
