"""Per-platform adapters behind ``hub.ports``. Only ``hub.bootstrap`` reads these maps.

``TARGET_SPECS`` is light (pydantic models only) so the policy loader can validate targets
without importing any SDK; publishers are imported on demand by ``load_factory``.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping

from adapters.bluesky.spec import BlueskySpec
from adapters.bluesky_chat.spec import BlueskyChatSpec
from adapters.email_spec import EmailSpec
from adapters.feed_spec import FeedSpec
from adapters.mastodon.spec import MastodonSpec
from adapters.matrix.spec import MatrixSpec
from adapters.webhook.spec import WebhookSpec
from hub.ports import Connector, ContactReaderFactory, PublisherFactory, TargetSpec

TARGET_SPECS: Mapping[str, type[TargetSpec]] = {
    spec.platform: spec for spec in (EmailSpec, FeedSpec, BlueskySpec, MastodonSpec,
                                          MatrixSpec, WebhookSpec, BlueskyChatSpec)
}

_FACTORIES = {
    "email": "adapters.email:build",
    "feed": "adapters.feed:build",
    "bluesky": "adapters.bluesky:build",
    "bluesky-chat": "adapters.bluesky_chat:build",
    "mastodon": "adapters.mastodon:build",
    "matrix": "adapters.matrix:build",
    "webhook": "adapters.webhook:build",
}


def load_factory(platform: str) -> PublisherFactory:
    """Import the adapter for ``platform`` and return its ``build(connection, credentials)``."""
    module_name, attr = _FACTORIES[platform].split(":")
    factory: PublisherFactory = getattr(importlib.import_module(module_name), attr)
    return factory


def load_connector(platform: str) -> Connector:
    """Import the adapter for ``platform`` and return its ``connect(settings, secret)``."""
    module_name, _ = _FACTORIES[platform].split(":")
    connector: Connector = importlib.import_module(module_name).connect
    return connector


CONTACT_READERS = {
    "mastodon": "adapters.mastodon.contacts:build",
    "bluesky": "adapters.bluesky.contacts:build",
    "matrix": "adapters.matrix.contacts:build",
}


def load_contact_reader(platform: str) -> ContactReaderFactory:
    """Import ``platform``'s follower/follows reader (``hub contacts sync``)."""
    module_name, attr = CONTACT_READERS[platform].split(":")
    factory: ContactReaderFactory = getattr(importlib.import_module(module_name), attr)
    return factory
