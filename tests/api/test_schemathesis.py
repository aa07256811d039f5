"""The OpenAPI schema is the contract: schemathesis generates requests from it for every operation,
as a lead's token on a project with data, and every answer must be no 5xx and match the schema
documented for its status. Examples are bounded so the walk takes a few minutes at most."""

from __future__ import annotations

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

pytestmark = pytest.mark.django_db

EXAMPLES_PER_OPERATION = 25
CHECKS = [not_a_server_error, response_schema_conformance]
# The samples push takes JSON Lines: sent as the text it is.
schemathesis.serializer.alias(["application/x-ndjson", "application/jsonl"], "text/plain")


@pytest.fixture
def api_schema(lead, project):
    from synthreview.projects.services.api_tokens import api_token_create
    from synthreview.wsgi import application
    from tests.api.test_api_access_matrix import _world

    secret = api_token_create(lead, name="schemathesis").secret
    world = _world(project, lead)
    # The WSGI handler closes the database connection around each request; inside the test's
    # transaction it must stay open, as Django's own test client keeps it.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", application)
    yield schema, {"Authorization": f"Bearer {secret}"}, world
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


def _aim_at_the_project(case, world) -> None:
    """A generated slug names no project, and a generated id rarely an object: every call goes to the
    lead's project, and half the generated ids (the even ones) are swapped for its real objects, so
    the walk reaches the code behind the 404s."""
    parameters = dict(case.path_parameters or {})
    if "slug" in parameters:
        parameters["slug"] = world.project.slug
    for name, value in parameters.items():
        if name in world.ids and isinstance(value, int) and value % 2 == 0:
            parameters[name] = world.ids[name]
    case.path_parameters = parameters


def _walk(operation, headers: dict[str, str], world, answered: dict[str, set[int]]) -> str | None:
    """Up to EXAMPLES_PER_OPERATION generated calls of one operation; the first failure, if any."""
    name = f"{operation.method.upper()} {operation.path}"

    @given(case=operation.as_strategy())
    @hypothesis_settings(
        max_examples=EXAMPLES_PER_OPERATION, deadline=None, database=None, suppress_health_check=list(HealthCheck)
    )
    def check(case) -> None:
        case.headers = {**(case.headers or {}), **headers}
        _aim_at_the_project(case, world)
        response = case.call()
        answered.setdefault(name, set()).add(response.status_code)
        case.validate_response(response, checks=CHECKS)

    try:
        check()
    except Exception as failure:  # one operation's failure must not hide the next one's
        return f"{name}: {str(failure)[:1500]}"
    return None


def test_every_operation_answers_within_its_schema(api_schema, settings):
    schema, headers, world = api_schema
    settings.API_RATE_LIMIT = "1000000/min"
    answered: dict[str, set[int]] = {}
    operations = [result.ok() for result in schema.get_all_operations()]
    failures = [failure for operation in operations if (failure := _walk(operation, headers, world, answered))]
    assert len(operations) == len(answered) >= 30
    assert not failures, "\n\n".join(failures)
    # The walk got past validation into the handlers: most operations answered a success at least once.
    succeeded = [name for name, statuses in answered.items() if any(200 <= status < 300 for status in statuses)]
    assert len(succeeded) >= len(operations) * 2 // 3, {name: sorted(codes) for name, codes in answered.items()}
