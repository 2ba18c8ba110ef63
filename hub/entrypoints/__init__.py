"""The hub's ways in: the ``hub`` command line (``cli``), the arq worker (``arq_worker``) and,
beside them in its own package, the web app (``web.app.create_app``). Each asks the composition
root (``hub.bootstrap``) for the runtime of its mode; nothing below them imports them."""
