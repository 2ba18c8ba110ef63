"""Error pages for the HTML side: what went wrong, in words, with a way back."""

from __future__ import annotations

from collections.abc import Mapping

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from web.ui._render import login_url, render

_NOT_HTML = ("/api/", "/feeds/", "/owner/feed.atom", "/healthz", "/metrics", "/openapi.json",
             "/docs", "/redoc", "/static/")
TITLES = {400: "That did not work", 401: "Please log in", 403: "Not allowed",
          404: "Not found", 405: "Not allowed here", 409: "Not ready", 413: "Too large",
          422: "That cannot be sent", 429: "Slow down", 500: "Something broke",
          502: "The network said no"}


def wants_html(request: Request) -> bool:
    """Pages get HTML errors; the API, feeds, health and metrics keep theirs."""
    path = request.url.path
    return path != "/api" and not path.startswith(_NOT_HTML)


def error_page(request: Request, status: int, message: str, *,
               headers: Mapping[str, str] | None = None) -> HTMLResponse:
    return render(request, "error.html", {
        "status": status, "title": TITLES.get(status, "Something went wrong"),
        "message": message}, status=status, headers=headers)


def login_required(request: Request, exc: Exception) -> Response:
    """Pages send the browser to the login form and back; anything else gets 401."""
    if request.method in ("GET", "HEAD") and not request.headers.get("x-requested-with"):
        return RedirectResponse(login_url(request), status_code=303)
    return error_page(request, 401, "your session has ended: log in again, then retry")
