"""Validate XRPC inputs, parameters and outputs against the vendored lexicons, by turning each
lexicon definition into JSON Schema (``jsonschema`` + ``referencing``) with two lexicon-only
checks added: ``maxGraphemes``/``minGraphemes`` (counted as the PDS counts) and string formats.

Unions are checked as the double produces and accepts them: each member carries ``$type``
naming one of the union's refs (``closed`` or not). Unknown properties are allowed, as lexicons
allow them.
"""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator, validators
from jsonschema.exceptions import ValidationError
from referencing import Registry
from referencing.jsonschema import DRAFT202012

from adapters.bluesky import graphemes

ROOT = Path(__file__).parent / "lexicons"
_FORMATS = {
    "did": re.compile(r"^did:[a-z]+:[A-Za-z0-9._:%-]+$"),
    "handle": re.compile(r"^([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]"
                         r"([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$"),
    "datetime": re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$"),
    "at-identifier": re.compile(r"^(did:[a-z]+:\S+|[A-Za-z0-9.-]+)$"),
    "uri": re.compile(r"^[a-z][a-z0-9+.-]*:\S+$"),
    "at-uri": re.compile(r"^at://\S+$"),
    "cid": re.compile(r"^[A-Za-z0-9+/=]{8,}$"),
    "language": re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]+)*$"),
    "nsid": re.compile(r"^[a-zA-Z][a-zA-Z0-9-]*(\.[a-zA-Z0-9-]+)+$"),
}


def _uri(nsid: str, name: str) -> str:
    return f"lex:{nsid}/{name}"


def _ref(ref: str, nsid: str) -> tuple[str, str]:
    target, _, name = ref.partition("#")
    return (target or nsid), (name or "main")


def _convert(node: dict[str, Any], nsid: str) -> dict[str, Any]:
    kind = node.get("type")
    if kind in ("object", "params"):
        props = {k: _convert(v, nsid) for k, v in node.get("properties", {}).items()}
        out: dict[str, Any] = {"type": "object", "properties": props}
        if node.get("required"):
            out["required"] = list(node["required"])
        return out
    if kind == "string":
        out = {"type": "string"}
        for key in ("maxLength", "minLength", "maxGraphemes", "minGraphemes"):
            if key in node:
                out[key] = node[key]
        if "format" in node:
            out["lexFormat"] = node["format"]
        if "enum" in node:
            out["enum"] = node["enum"]
        if "const" in node:
            out["const"] = node["const"]
        return out
    if kind == "integer":
        out = {"type": "integer"}
        for key in ("minimum", "maximum", "enum", "const"):
            if key in node:
                out[key] = node[key]
        return out
    if kind == "boolean":
        return {"type": "boolean"}
    if kind == "array":
        out = {"type": "array", "items": _convert(node["items"], nsid)}
        if "maxLength" in node:
            out["maxItems"] = node["maxLength"]
        if "minLength" in node:
            out["minItems"] = node["minLength"]
        return out
    if kind == "ref":
        return {"$ref": _uri(*_ref(node["ref"], nsid))}
    if kind == "union":
        options = []
        for ref in node["refs"]:
            target, name = _ref(ref, nsid)
            full = target if name == "main" else f"{target}#{name}"
            options.append({"allOf": [{"$ref": _uri(target, name)},
                                      {"required": ["$type"],
                                       "properties": {"$type": {"const": full}}}]})
        return {"type": "object", "oneOf": options}
    return {}   # unknown, blob, bytes, cid-link, token, record, query/procedure bodies


@cache
def registry() -> Registry[Any]:
    resources = []
    for path in sorted(ROOT.rglob("*.json")):
        doc = json.loads(path.read_text())
        nsid = doc["id"]
        for name, node in doc["defs"].items():
            schema = _convert(node, nsid) if node.get("type") not in (
                "query", "procedure", "record") else {}
            if node.get("type") == "record":
                schema = _convert(node["record"], nsid)
            schema["$id"] = _uri(nsid, name)
            resources.append((schema["$id"], DRAFT202012.create_resource(schema)))
    return Registry().with_resources(resources)


@cache
def method(nsid: str) -> dict[str, Any]:
    doc = json.loads((ROOT / (nsid.replace(".", "/") + ".json")).read_text())
    main: dict[str, Any] = doc["defs"]["main"]
    return main


def _graphemes_max(validator: Any, limit: int, instance: Any, schema: Any) -> Any:
    if isinstance(instance, str) and graphemes.count(instance) > limit:
        yield ValidationError(f"{instance[:40]!r}… has more than {limit} graphemes")


def _graphemes_min(validator: Any, limit: int, instance: Any, schema: Any) -> Any:
    if isinstance(instance, str) and graphemes.count(instance) < limit:
        yield ValidationError(f"{instance!r} has fewer than {limit} graphemes")


def _format(validator: Any, name: str, instance: Any, schema: Any) -> Any:
    pattern = _FORMATS.get(name)
    if isinstance(instance, str) and pattern is not None and not pattern.match(instance):
        yield ValidationError(f"{instance!r} is not a valid {name}")


_Validator = validators.extend(Draft202012Validator, {
    "maxGraphemes": _graphemes_max, "minGraphemes": _graphemes_min, "lexFormat": _format})


def problems(nsid: str, part: str, value: Any) -> list[str]:
    """Violations of ``nsid``'s ``parameters``, ``input`` or ``output`` by ``value``."""
    main = method(nsid)
    node = main.get("parameters") if part == "parameters" else \
        (main.get(part) or {}).get("schema")
    if node is None:
        return [] if value in (None, {}) else [f"{nsid} takes no {part}"]
    schema = _convert(node, nsid)
    validator = _Validator(schema, registry=registry())
    return [f"{nsid} {part}: {'/'.join(str(p) for p in e.absolute_path) or '(root)'}: "
            f"{e.message}" for e in validator.iter_errors(value)]


def errors_of(nsid: str) -> set[str]:
    return {e["name"] for e in method(nsid).get("errors", [])}
