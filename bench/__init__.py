"""The hub's benchmarks: ``python -m bench`` runs the whole suite (see bench/README.md)."""
