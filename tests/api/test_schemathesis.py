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

    secret = api_token_create(lead, name="schemathesis").secret
    # The WSGI handler closes the database connection around each request; inside the test's
    # transaction it must stay open, as Django's own test client keeps it.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", application)
    yield schema, {"Authorization": f"Bearer {secret}"}
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


def test_every_operation_answers_within_its_schema(api_schema, settings):
    schema, headers = api_schema
    settings.API_RATE_LIMIT = "1000000/min"
    failures: list[str] = []
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1

        @given(case=operation.as_strategy())
        @hypothesis_settings(
            max_examples=EXAMPLES_PER_OPERATION, deadline=None, database=None, suppress_health_check=list(HealthCheck)
        )
        def check(case) -> None:
            case.headers = {**(case.headers or {}), **headers}
            response = case.call()
            case.validate_response(response, checks=CHECKS)

        try:
            check()
        except Exception as failure:  # one operation's failure must not hide the next one's
            failures.append(f"{operation.method.upper()} {operation.path}: {str(failure)[:1500]}")
    assert operations >= 2
    assert not failures, "\n\n".join(failures)
