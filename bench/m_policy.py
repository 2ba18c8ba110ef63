"""The compiled policy engine's measure (``route()`` with 500 rules × 50 targets beside the
dict look-up loop) lives in ``bench/bench_policy.py``; it joins the suite through its
``MEASURES`` list. Until that file exists this module contributes nothing."""

from __future__ import annotations

import importlib
import sys

from bench._suite import Measure

MEASURES: list[Measure] = []
try:
    _module = importlib.import_module("bench.bench_policy")
except ModuleNotFoundError as exc:
    if exc.name != "bench.bench_policy":
        raise
    print("policy: bench/bench_policy.py does not exist yet; skipped", file=sys.stderr)
else:
    MEASURES = list(getattr(_module, "MEASURES", []))
    if not MEASURES:
        print("policy: bench/bench_policy.py defines no MEASURES; run it on its own",
              file=sys.stderr)
