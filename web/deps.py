"""Dependency aliases so route signatures read like prose."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Header, Request
from starlette.concurrency import run_in_threadpool

from hub.runtime import Hub
from hub.services.tokens import TokenIdentity, authenticate


def get_hub(request: Request) -> Hub:
    hub: Hub = request.app.state.hub
    return hub


HubDep = Annotated[Hub, Depends(get_hub)]


def token_with(scope: str) -> Callable[..., object]:
    async def dependency(hub: HubDep, authorization: Annotated[
            str | None, Header(description="Bearer hub_… (see `hub token create`)")] = None
    ) -> TokenIdentity:
        identity = await run_in_threadpool(authenticate, hub, authorization)
        identity.require(scope)
        return identity

    return dependency


PostToken = Annotated[TokenIdentity, Depends(token_with("post"))]
ReadToken = Annotated[TokenIdentity, Depends(token_with("read"))]
AuditToken = Annotated[TokenIdentity, Depends(token_with("audit"))]
ApproveToken = Annotated[TokenIdentity, Depends(token_with("approve"))]
