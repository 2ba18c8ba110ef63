"""The owner's policy: file schema, loader (the only disk I/O), the pure ``route()`` engine,
its plain-text explanation and the owner's example cases. See ``policies/README.md``."""

from hub.policy.engine import Action, Audience, Conditions, Policy, Requirement, Rule, route
from hub.policy.examples import Example, ExampleResult, load_examples, run_examples
from hub.policy.explain import explain_lines
from hub.policy.loader import load_policy

__all__ = [
    "Action",
    "Audience",
    "Conditions",
    "Example",
    "ExampleResult",
    "Policy",
    "Requirement",
    "Rule",
    "explain_lines",
    "load_examples",
    "load_policy",
    "route",
    "run_examples",
]
