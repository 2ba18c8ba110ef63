"""The policy page: the policy in force (files, digest, when it was loaded), its warnings, the
owner's example cases run against it, and a reload button (a bad file is shown with its file
and line, and the policy in force stays). Editing stays in the owner's editor."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from hub.errors import PolicyFileInvalid
from hub.runtime import Hub
from hub.services.policy import policy_status, reload_policy
from web.deps import HubDep
from web.ui._guard import CsrfForm, Owner
from web.ui._render import redirect, render

router = APIRouter(include_in_schema=False)


def _page(request: Request, hub: Hub, *, error: PolicyFileInvalid | None = None,
          status: int = 200) -> Response:
    return render(request, "policy/index.html", {
        "section": "policy", "status": policy_status(hub), "directory": hub.policies.directory,
        "error": error.message if error else "",
        "problems": ([error.message, *error.others] if error else [])}, status=status)


@router.get("/policy")
def policy_page(request: Request, hub: HubDep, owner: Owner) -> Response:
    return _page(request, hub)


@router.post("/policy/reload")
def policy_reload(request: Request, hub: HubDep, owner: Owner, form: CsrfForm) -> Response:
    before = hub.policies.current.digest
    try:
        policy, _ = reload_policy(hub, actor="owner:web")
    except PolicyFileInvalid as exc:
        return _page(request, hub, error=exc, status=exc.status)
    if policy.digest == before:
        return redirect(request, "/policy", flash="The files have not changed: the same policy "
                        f"({policy.digest[:12]}) stays in force.")
    return redirect(request, "/policy", flash=f"Policy {policy.digest[:12]} loaded; it applies "
                    "to every delivery from now on (workers follow before their next send).")
