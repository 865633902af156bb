"""Schemathesis against /openapi.json: no input gets a 5xx, and every answer matches the document.

Runs on SQLite and PostgreSQL, with and without a valid token, with data that fits the schema and
data that does not; the number of examples is bounded so the whole module stays well under 60 s.
"""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from server_helpers import ApiServer

pytest_plugins = ["server_fixtures"]

EXAMPLES = 20
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]


def test_the_api_conforms_to_its_openapi_document(database_url):
    server = ApiServer(database_url, auth_failures_allowed=10**9)
    token = server.enroll()
    schema = schemathesis.openapi.from_asgi("/openapi.json", server.app)
    labels = []
    for result in schema.get_all_operations():
        operation = result.ok()
        labels.append(operation.label)
        # Only the body of POST can be wrong in a way the schema describes.
        negative = [GenerationMode.NEGATIVE] if operation.method.upper() == "POST" else []
        for mode in (GenerationMode.POSITIVE, *negative):

            @given(case=operation.as_strategy(generation_mode=mode), authorised=st.booleans())
            @settings(
                max_examples=EXAMPLES,
                deadline=None,
                database=None,
                phases=[Phase.explicit, Phase.generate],
                suppress_health_check=list(HealthCheck),
            )
            def check(case: schemathesis.Case, authorised: bool) -> None:
                headers = {"Authorization": f"Bearer {token}"} if authorised else None
                case.call_and_validate(headers=headers, checks=CHECKS)

            check()
    assert sorted(labels) == ["GET /api/v1/surveys", "GET /healthz", "POST /api/v1/responses"]
    server.close()
