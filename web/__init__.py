"""The hub's web side: FastAPI app, JSON API, feeds, and (later) the owner's pages."""
