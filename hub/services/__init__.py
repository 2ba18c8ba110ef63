"""Use cases: what the CLI, the web API and the workers call. Each writes in one transaction."""
