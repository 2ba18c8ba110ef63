"""``python -m tests.mastodon_double --port N [--host 127.0.0.1] [--spec PATH]``."""

from __future__ import annotations

import argparse
from pathlib import Path

import uvicorn

from tests.mastodon_double.app import create_app
from tests.mastodon_double.contract import Contract


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.mastodon_double")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--spec", type=Path, default=None,
                        help="mastodon-openapi schema.json (default: the vendored copy "
                             "in tests/mastodon_double/spec/)")
    args = parser.parse_args()
    app = create_app(Contract(args.spec))
    print(f"mastodon double on http://{args.host}:{args.port}", flush=True)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
