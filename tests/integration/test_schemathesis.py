"""Schemathesis against the hub's own OpenAPI document, over real HTTP (uvicorn on 127.0.0.1):
generated requests — valid and invalid — never get a 5xx, and every answer matches the schema
the app publishes (status codes, content types, bodies, headers). Seeded and bounded.

One check is left out: ``positive_data_acceptance`` expects every schema-valid request to be
accepted, but the hub also refuses, by design, what no schema can express (an audience the
policy does not define, text that is only spaces); those refusals must be documented, which
``status_code_conformance`` checks.

(Each operation runs as a Hypothesis test inside one pytest test: schemathesis' lazy pytest
loader, ``from_fixture``, does not work with pytest 9.)"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import positive_data_acceptance

from hub.bootstrap import Mode
from hub.services.people import NewPerson, add_person
from hub.services.tokens import SCOPES, create_token
from tests.integration.test_http import LiveServer
from web.app import create_app

pytestmark = pytest.mark.integration
MAX_EXAMPLES = 30


@pytest.fixture
def api(make_runtime, sqlite_url) -> Iterator[tuple[LiveServer, str]]:
    runtime = make_runtime(sqlite_url, real_clock=True, mode=Mode.EMBEDDED, sweep_seconds=0.2)
    hub = runtime.hub
    add_person(hub, NewPerson("Ana", [("email", "ana@example.org")], ["friends"]))
    _, token = create_token(hub, "schemathesis", list(SCOPES))
    with LiveServer(create_app(hub.settings, runtime=runtime)) as server:
        hub.settings.public_url = server.url
        yield server, token


@pytest.mark.timeout(600)
def test_the_api_answers_every_request_within_its_schema_and_never_with_5xx(api):
    server, token = api
    schema = schemathesis.openapi.from_url(f"{server.url}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 8
    failures: dict[str, str] = {}
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=MAX_EXAMPLES, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))
        def check(case: schemathesis.Case) -> None:
            case.call_and_validate(base_url=server.url,
                                   headers={"Authorization": f"Bearer {token}"},
                                   excluded_checks=[positive_data_acceptance])

        try:
            check()
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as exc:  # noqa: B036 - schemathesis raises exception groups
            failures[operation.label] = str(exc)[:3000]
    assert not failures, "\n\n".join(f"{label}:\n{why}" for label, why in failures.items())
