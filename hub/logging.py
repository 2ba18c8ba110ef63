"""Logging, configured in this one place, once per process: structlog renders JSON when stdout
is not a terminal and console output otherwise; the standard library's loggers (arq, SDKs) show
warnings, or everything at debug level. Log ids and hashes, never post bodies or secrets."""

from __future__ import annotations

import logging
import sys

import structlog


def configure_logging(level: str = "info") -> None:
    renderer: structlog.typing.Processor = (
        structlog.dev.ConsoleRenderer() if sys.stdout.isatty()
        else structlog.processors.JSONRenderer())
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping().get(level.upper(), logging.INFO)),
        cache_logger_on_first_use=False,
    )
    stdlib = logging.DEBUG if level.lower() == "debug" else logging.WARNING
    logging.basicConfig(level=stdlib, format="%(asctime)s %(name)s %(message)s")
