"""Property-based API testing from the OpenAPI schema (schemathesis, in-process ASGI):
no generated request may produce a server error, and responses must match their schemas.
Bounded by examples (a few per operation), not by a wall-clock limit: speed goals live in `make bench`,
never in a test that a loaded machine can fail."""

from __future__ import annotations

from typing import Any

import schemathesis
from hypothesis import HealthCheck, given, settings

from tests.gateway.api_fixtures import market

EXAMPLES = 15
CHECKS = [schemathesis.checks.not_a_server_error, schemathesis.checks.response_schema_conformance]


def test_no_server_errors_over_the_openapi_schema(market: Any) -> None:
    from gateway.main import create_app

    app = create_app(market.settings())
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    failures: list[str] = []
    operations = 0
    calls: dict[int, int] = {}
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1

        @given(case=operation.as_strategy())
        @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))
        def run(case: Any) -> None:
            response = case.call()
            calls[response.status_code] = calls.get(response.status_code, 0) + 1
            try:
                case.validate_response(response, checks=CHECKS)
            except Exception as exc:  # collect every failing operation
                failures.append(f"{case.method} {case.formatted_path} -> {response.status_code}: "
                                f"{str(exc)[:400]}")
                raise

        try:
            run()
        except Exception:  # recorded above
            pass
    assert operations >= 20
    assert sum(calls.values()) >= 3 * operations, calls
    assert not any(code >= 500 for code in calls), calls
    assert not failures, "\n".join(failures)
