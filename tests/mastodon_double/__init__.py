"""A Mastodon-compatible test server whose every request and response is checked against the
published OpenAPI contract (``tests/mastodon_double/spec/mastodon-openapi-schema.json``, or
``$MASTODON_OPENAPI_SPEC``).

Run it from the repository root: ``python -m tests.mastodon_double --port 8765``. It serves the
operations the hub uses (``handlers.HANDLERS``) and a control plane, JSON over HTTP, never
validated and never faulted:

=================================  =============================================================
``GET  /_double/health``           ``{"ok": true}``
``POST /_double/reset``            ``{"config": {...}}``: forget everything, new ``world.Config``
``POST /_double/config``           change ``world.Config`` fields (``max_characters``,
                                   ``media_processing_polls``, ``async_media``,
                                   ``ratelimit_limit``, ``ratelimit_window``, ``allowed_mentions``,
                                   ``version``...); starts a new rate-limit window
``POST /_double/accounts``         ``{"username", "domain"?, "locked"?, "known"?, "scopes"?}`` →
                                   ``{"id", "acct", "token"}`` (a token for local accounts given
                                   ``scopes``; ``known: false`` = only WebFinger finds it)
``POST /_double/follows``          ``{"follower": id, "followee": id}``
``POST /_double/faults``           ``{"kind": "error", "status": 500}``,
                                   ``{"kind": "ratelimit", "reset_in": 2.0}`` (429 until then),
                                   ``{"kind": "delay", "seconds": 2, "when": "before"|"after"}``
                                   ("after": the request takes effect, the answer comes late);
                                   plus ``"count"`` (next N matching requests), ``"method"``,
                                   ``"path"`` (fnmatch pattern)
``GET  /_double/statuses``         every status as stored: text, visibility (and whether it was
                                   sent), mentions, idempotency key, edits, deleted, counted
                                   length, who can read it now
``GET  /_double/media``            uploads
``GET  /_double/requests``         every API request: method, path, query, parsed body, key,
                                   status
``GET|DELETE /_double/violations`` contract violations seen (DELETE also clears them)
``POST /_double/oauth/approve``    ``{"client_id", "username", "redirect_uri", "scope"}`` →
                                   ``{"code"}``: the owner approving in the browser
=================================  =============================================================

In-process: ``app.create_app()`` returns the Starlette app; ``app.state.double`` is the
``Double`` (its ``world``, ``faults``, ``requests`` and ``violations``).
"""
