"""``python -m hub.entrypoints.cli``: the same as the ``hub`` console script."""

from hub.entrypoints.cli import main

main()
