"""Mastodon adapter integration tests: the contract-checked double and mastodon-mock."""
