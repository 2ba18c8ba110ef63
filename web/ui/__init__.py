"""The owner's web pages: server-rendered HTML over the same services as the API and CLI.

``install(app)`` adds the page routers, the static files, the security headers and the login
redirect; ``wants_html``/``error_page`` let the app's error handlers answer pages in HTML.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from web.ui import (
    accounts,
    audit,
    auth,
    compose,
    deliveries,
    drafts,
    jobs,
    people,
    people_lists,
    policy,
    post_edits,
    posts,
    queue,
    tokens,
)
from web.ui._guard import LoginRequired
from web.ui._render import make_templates
from web.ui._security import SecurityHeaders
from web.ui.errors import error_page, login_required, wants_html

STATIC = Path(__file__).resolve().parent.parent / "static"

__all__ = ["error_page", "install", "wants_html"]


def install(app: FastAPI) -> None:
    app.state.ui_templates = make_templates()
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    for module in (auth, compose, drafts, queue, posts, deliveries, post_edits, audit, people,
                   people_lists, tokens, accounts, policy,
                   jobs):
        app.include_router(module.router)
    app.add_exception_handler(LoginRequired, login_required)
    app.add_middleware(SecurityHeaders)
