"""The published Mastodon API contract (abraham/mastodon-openapi), as the double enforces it.

Every request the double receives is checked against the operation the spec declares for its
path and method (query, header and body parameters, typed); every response against the schema
declared for its status code. Form-encoded and multipart bodies, which Mastodon.py sends while
the spec lists JSON only, are parsed the Rails way (``a[]`` → list, ``a[b]`` → object) and their
strings coerced by the property's schema before validation.

The spec has a few defects; ``PATCHES`` fixes them on the loaded copy, each with its reason,
and ``EXTENSIONS`` lists the parameters Mastodon accepts that the spec does not document.
"""

from __future__ import annotations

import copy
import json
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jsonschema
from jsonschema import Draft202012Validator, FormatChecker
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

SPEC_URI = "urn:mastodon-openapi"
DEFAULT_SPEC = Path(__file__).resolve().parent / "spec" / "mastodon-openapi-schema.json"
"""Vendored verbatim (see spec/README.md) so a fresh clone needs nothing outside the repo."""

# (pointer into the spec, replacement, reason). Applied in order to a copy of the document.
PATCHES: list[tuple[str, Any, str]] = [
    ("/paths/~1api~1v1~1statuses/post/parameters/0/schema", {"type": "string"},
     "Idempotency-Key is typed `object`; it is an arbitrary string header."),
    ("/paths/~1api~1v1~1statuses/post/requestBody/content/application~1json/schema",
     {"anyOf": [{"$ref": "#/components/schemas/TextStatus"},
                {"$ref": "#/components/schemas/MediaStatus"},
                {"$ref": "#/components/schemas/PollStatus"}]},
     "createStatus body is `oneOf` Text/Media/PollStatus, but the branches overlap (none forbids "
     "extra properties): a status with text and media matches two branches, which `oneOf` "
     "rejects. `anyOf` is what the docs mean."),
    ("/paths/~1api~1v1~1media~1{id}/get/responses/206/content",
     {"application/json": {"schema": {"$ref": "#/components/schemas/MediaAttachment"}}},
     "206 (still processing) is declared without a body; Mastodon's MediaController#show renders "
     "the MediaAttachment (url null) with it, and Mastodon.py cannot parse an empty 206."),
    ("/paths/~1api~1v1~1apps/post/requestBody/content/application~1json/schema/properties/"
     "redirect_uris",
     {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]},
     "redirect_uris is typed array only; Mastodon documents 'String or Array of Strings' and "
     "Mastodon.py sends one newline-separated string."),
    ("/paths/~1api~1v1~1statuses~1{id}/put/requestBody/content/application~1json/schema/"
     "properties/media_attributes",
     {"type": "array", "items": {"type": "object", "additionalProperties": False,
                                 "required": ["id"],
                                 "properties": {"id": {"type": "string"},
                                                "description": {"type": "string"},
                                                "focus": {"type": "string"}}}},
     "updateStatus documents `media_attributes[]` as an array of strings, but the docs and the "
     "server take an array of hashes (`media_attributes[][id]`, `[description]`, `[focus]`), "
     "as a JSON array of objects named `media_attributes` (what Mastodon.py sends)."),
]

# Parameters Mastodon accepts that the spec omits: (method, path template) -> {name: schema}.
EXTENSIONS: dict[tuple[str, str], dict[str, Any]] = {
    ("POST", "/api/v1/statuses"): {
        # PostStatusService#safeguard_mentions! (mastodon/mastodon PR #18350, Mastodon >= 4.0).
        "allowed_mentions": {"type": "array", "items": {"type": "string"}},
    },
}


def _formats() -> FormatChecker:
    checker = FormatChecker(formats=())

    @checker.checks("date-time", raises=ValueError)
    def _date_time(value: object) -> bool:
        if not isinstance(value, str):
            return True
        if "T" not in value or not re.search(r"(Z|[+-]\d\d:\d\d)$", value):
            return False
        datetime.fromisoformat(value.replace("Z", "+00:00"))
        return True

    @checker.checks("date", raises=ValueError)
    def _date(value: object) -> bool:
        return not isinstance(value, str) or bool(date.fromisoformat(value))

    @checker.checks("uri")
    def _uri(value: object) -> bool:
        if not isinstance(value, str):
            return True
        parts = urlsplit(value)
        return bool(parts.scheme) and (bool(parts.netloc) or parts.scheme in ("urn", "mailto"))

    @checker.checks("email")
    def _email(value: object) -> bool:
        return not isinstance(value, str) or re.fullmatch(r"[^@\s]+@[^@\s]+", value) is not None

    @checker.checks("iso-639-1")
    def _language(value: object) -> bool:
        return not isinstance(value, str) or re.fullmatch(r"[a-z]{2,3}", value) is not None

    return checker


@dataclass
class Operation:
    method: str
    template: str
    spec: Mapping[str, Any]
    pointer: str
    params: dict[str, Any] = field(default_factory=dict)   # path params from the URL


@dataclass
class Checked:
    """A request as the contract read it."""

    operation: Operation | None
    body: dict[str, Any]
    violations: list[str]


class Contract:
    """Loads the spec once; checks requests and responses against it."""

    def __init__(self, path: Path | None = None) -> None:
        path = path or Path(os.environ.get("MASTODON_OPENAPI_SPEC", DEFAULT_SPEC))
        raw = json.loads(path.read_text())
        self.document = copy.deepcopy(raw)
        for pointer, value, _ in PATCHES:
            _set(self.document, pointer, value)
        resource = Resource.from_contents(self.document, default_specification=DRAFT202012)
        self.registry: Registry = Registry().with_resource(SPEC_URI, resource)
        self.formats = _formats()
        self.routes: list[tuple[re.Pattern[str], str]] = []
        for template in self.document["paths"]:
            pattern = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(template))
            self.routes.append((re.compile(f"^{pattern}$"), template))
        # Literal segments win over parameters (/accounts/lookup before /accounts/{id}).
        self.routes.sort(key=lambda r: (r[1].count("{"), -len(r[1])))

    # -- lookups -----------------------------------------------------------------------------

    def operation(self, method: str, path: str) -> Operation | None:
        path = path.rstrip("/") or "/"
        for pattern, template in self.routes:
            match = pattern.match(path)
            if match and method.lower() in self.document["paths"][template]:
                op = self.document["paths"][template][method.lower()]
                pointer = f"/paths/{_escape(template)}/{method.lower()}"
                return Operation(method.upper(), template, op, pointer, match.groupdict())
        return None

    def scopes(self, op: Operation) -> list[str]:
        """OAuth scopes the operation lists (Mastodon accepts any one of them)."""
        return [s for req in op.spec.get("security") or [] for s in req.get("OAuth2", [])]

    def errors(self, instance: Any, schema_pointer: str) -> list[str]:
        schema = {"$ref": f"{SPEC_URI}#{schema_pointer}"}
        validator = Draft202012Validator(schema, registry=self.registry,
                                         format_checker=self.formats)
        found = []
        for error in validator.iter_errors(instance):
            leaves = sorted(set(_leaves(error)))
            found.append(" | ".join(leaves[:4]) + (" | ..." if len(leaves) > 4 else ""))
        return found

    def resolve(self, schema: Any) -> Any:
        while isinstance(schema, Mapping) and "$ref" in schema:
            ref = schema["$ref"]
            assert ref.startswith("#/"), ref
            schema = _get(self.document, ref[1:])
        return schema

    def properties(self, schema: Any) -> dict[str, Any]:
        """Every property a body may have, through $ref / allOf / anyOf / oneOf."""
        schema = self.resolve(schema)
        props: dict[str, Any] = {}
        if not isinstance(schema, Mapping):
            return props
        for key in ("allOf", "anyOf", "oneOf"):
            for branch in schema.get(key, []):
                props.update(self.properties(branch))
        props.update(schema.get("properties", {}))
        return props

    def types(self, schema: Any) -> set[str]:
        schema = self.resolve(schema)
        if not isinstance(schema, Mapping):
            return set()
        declared = schema.get("type")
        found = set(declared if isinstance(declared, list) else [declared] if declared else [])
        for key in ("allOf", "anyOf", "oneOf"):
            for branch in schema.get(key, []):
                found |= self.types(branch)
        return found

    # -- requests ----------------------------------------------------------------------------

    def check_request(self, method: str, path: str, query: Iterable[tuple[str, str]],
                      headers: Mapping[str, str], body: dict[str, Any], body_kind: str
                      ) -> Checked:
        """``body`` is already parsed: from JSON (``body_kind="json"``) or from a form
        (``"form"``, values still strings, Rails keys unpacked)."""
        op = self.operation(method, path)
        if op is None:
            return Checked(None, body, [f"{method} {path}: no such operation in the spec"])
        where = f"{method} {op.template}"
        violations: list[str] = []
        declared = {(p["in"], p["name"]): (i, p) for i, p in
                    enumerate(op.spec.get("parameters", []))}
        for name in op.params:
            if ("path", name) not in declared:
                violations.append(f"{where}: path parameter {name} not declared")
        query_values = nest(query)
        for name, value in query_values.items():
            entry = declared.get(("query", name)) or declared.get(("query", name + "[]"))
            if entry is None:
                violations.append(f"{where}: query parameter {name!r} is not in the spec")
                continue
            index, param = entry
            coerced = self.coerce(value, param.get("schema", {}))
            violations += [f"{where}: query {name}: {e}" for e in self.errors(
                coerced, f"{op.pointer}/parameters/{index}/schema")]
        for (kind, name), (index, param) in declared.items():
            if param.get("required") and kind == "query" and name.rstrip("[]") not in query_values:
                violations.append(f"{where}: required query parameter {name!r} missing")
            if kind == "header" and name in headers:
                violations += [f"{where}: header {name}: {e}" for e in self.errors(
                    headers[name], f"{op.pointer}/parameters/{index}/schema")]
        request_body = op.spec.get("requestBody")
        extensions = EXTENSIONS.get((op.method, op.template), {})
        if request_body is None:
            if body:
                violations.append(f"{where}: has a body but the spec declares none")
            return Checked(op, body, violations)
        media = next(iter(request_body["content"]))
        pointer = f"{op.pointer}/requestBody/content/{_escape(media)}/schema"
        schema = request_body["content"][media]["schema"]
        known = self.properties(schema)
        if body_kind == "form":
            body = {k: self.coerce(v, known.get(k) or extensions.get(k) or {})
                    for k, v in body.items()}
        spec_body = {}
        for name, value in body.items():
            if name in known:
                spec_body[name] = value
            elif name in extensions:
                violations += [f"{where}: {name} (not in the spec, documented extension): {e}"
                               for e in _plain_errors(value, extensions[name])]
            else:
                violations.append(f"{where}: body field {name!r} is not in the spec")
        if request_body.get("required") and not body:
            violations.append(f"{where}: the spec requires a body")
        violations += [f"{where}: body {e}" for e in self.errors(spec_body, pointer)]
        return Checked(op, body, violations)

    def coerce(self, value: Any, schema: Any) -> Any:
        """Strings from a form or query string, typed by ``schema`` (left alone if they can't
        be: validation then reports them)."""
        types = self.types(schema)
        if isinstance(value, list):
            items = self.resolve(schema).get("items", {}) if isinstance(
                self.resolve(schema), Mapping) else {}
            return [self.coerce(v, items) for v in value]
        if isinstance(value, dict):
            props = self.properties(schema)
            return {k: self.coerce(v, props.get(k, {})) for k, v in value.items()}
        if not isinstance(value, str):
            return value
        if "boolean" in types and value in _BOOLEANS:
            return _BOOLEANS[value]
        if "integer" in types and re.fullmatch(r"-?\d+", value):
            return int(value)
        if "number" in types and re.fullmatch(r"-?\d+(\.\d+)?", value):
            return float(value)
        return value

    # -- responses ---------------------------------------------------------------------------

    def check_response(self, op: Operation, status: int, headers: Mapping[str, str],
                       body: bytes, content_type: str, *, injected: bool) -> list[str]:
        where = f"{op.method} {op.template} -> {status}"
        responses = op.spec.get("responses", {})
        declared = responses.get(str(status))
        violations = []
        # Gap: operations with OAuth scopes omit 403, which Doorkeeper answers (with an Error)
        # whenever the token lacks the scope ("This action is outside the authorized scopes").
        scope_refusal = status == 403 and bool(op.spec.get("security"))
        if declared is None:
            if not injected and not scope_refusal:
                violations.append(f"{where}: status {status} is not declared in the spec")
            declared = {"content": {"application/json": {
                "schema": {"$ref": "#/components/schemas/Error"}}}}
            pointer = None
        else:
            pointer = f"{op.pointer}/responses/{status}"
        for name, spec in (declared.get("headers") or {}).items():
            if name in headers and pointer is not None:
                schema = self.resolve(spec).get("schema", {})
                value = self.coerce(headers[name], schema)
                violations += [f"{where}: header {name}: {e}" for e in
                               _plain_errors(value, schema, self)]
        content = declared.get("content")
        if not content:
            if body.strip():
                violations.append(f"{where}: has a body but the spec declares none")
            return violations
        if not content_type.startswith("application/json"):
            return violations + [f"{where}: content type {content_type!r}, spec says JSON"]
        try:
            instance = json.loads(body)
        except ValueError:
            return violations + [f"{where}: body is not JSON"]
        schema_pointer = (f"{pointer}/content/application~1json/schema" if pointer
                          else "/components/schemas/Error")
        violations += [f"{where}: body {e}" for e in self.errors(instance, schema_pointer)]
        return violations


_BOOLEANS = {"1": True, "true": True, "t": True, "on": True,
             "0": False, "false": False, "f": False, "off": False}


def nest(pairs: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """Rails-style parameters: ``a[]=1&a[]=2`` → ``{"a": ["1", "2"]}``,
    ``poll[options][]=x`` → ``{"poll": {"options": ["x"]}}``."""
    out: dict[str, Any] = {}
    for key, value in pairs:
        match = re.fullmatch(r"([^\[\]]+)((?:\[[^\]]*\])*)", key)
        if match is None:
            out[key] = value
            continue
        _put(out, [match.group(1), *re.findall(r"\[([^\]]*)\]", match.group(2))], value)
    return out


def _put(target: dict[str, Any], keys: list[str], value: str) -> None:
    name, rest = keys[0], keys[1:]
    if not rest:
        target[name] = value
    elif rest == [""]:
        target.setdefault(name, []).append(value)
    elif rest[0] == "":
        items = target.setdefault(name, [])
        if not items or rest[1] in items[-1]:
            items.append({})
        _put(items[-1], rest[1:], value)
    else:
        _put(target.setdefault(name, {}), rest, value)


def _leaves(error: jsonschema.ValidationError) -> list[str]:
    """The innermost failures (under anyOf/oneOf, every branch's), with where they are."""
    if not error.context:
        where = "/".join(str(p) for p in error.absolute_path) or "(root)"
        return [f"{where}: {error.message[:300]}"]
    return [leaf for sub in error.context for leaf in _leaves(sub)]


def _plain_errors(instance: Any, schema: Any, contract: Contract | None = None) -> list[str]:
    if contract is not None:
        schema = contract.resolve(schema)
    validator = Draft202012Validator(schema, format_checker=_formats())
    return [e.message for e in validator.iter_errors(instance)]


def _escape(segment: str) -> str:
    return segment.replace("~", "~0").replace("/", "~1")


def _get(document: Any, pointer: str) -> Any:
    for part in pointer.lstrip("/").split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        document = document[int(part)] if isinstance(document, list) else document[part]
    return document


def _set(document: Any, pointer: str, value: Any) -> None:
    *parents, last = pointer.lstrip("/").split("/")
    target = _get(document, "/" + "/".join(parents)) if parents else document
    target[last.replace("~1", "/").replace("~0", "~")] = copy.deepcopy(value)
