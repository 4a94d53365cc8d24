"""Property-based fuzzing of API v1 from its own OpenAPI document (Schemathesis).

Every documented operation is called with generated valid and invalid inputs, with a token holding every
scope: no 5xx, and no response that contradicts the document (status codes, content types, bodies).
"""

import os

import pytest
import schemathesis
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from logistics.accounts.tokens import SCOPES
from tests.factories import bearer, make_token

# CI runs a fixed, reproducible set of cases; FUZZ_RANDOM=1 FUZZ_CASES=200 explores afresh (run that when
# changing the API: it is how the bugs listed in tests/security/test_attacks.py were found).
FUZZ_CASES = int(os.environ.get("FUZZ_CASES", "30"))
FUZZ_RANDOM = os.environ.get("FUZZ_RANDOM") == "1"


@pytest.fixture
def api_schema(app, monkeypatch):
    from config.ratelimit import Limit
    from web import limits

    # The fuzzer is one client sending hundreds of requests a minute: lift the per-caller API limits (they
    # have their own test) so that every response is the operation's own answer.
    monkeypatch.setattr(limits, "API_PER_ADDRESS", Limit("api-address-fuzz", 10**6, 60))
    monkeypatch.setattr(limits, "API_PER_TOKEN", Limit("api-token-fuzz", 10**6, 60))
    return schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)


@pytest.fixture
def all_scopes(app):
    from web.context import services

    with app.app_context(), services().db.unit_of_work() as s:
        center = s.execute(__import__("sqlalchemy").text(
            "SELECT code FROM agencies WHERE kind = 'province_center' LIMIT 1")).scalar_one()
        return bearer(make_token(s, sorted(SCOPES), agency_code=center))


def test_api_holds_its_contract_under_fuzzing(api_schema, all_scopes):
    # Driven by hand rather than schemathesis' pytest plugin, which does not support this pytest yet.
    calls: dict[str, int] = {}
    for result in api_schema.get_all_operations():
        operation = result.ok()

        @given(case=operation.as_strategy())
        @hsettings(max_examples=FUZZ_CASES, deadline=None, database=None, derandomize=not FUZZ_RANDOM,
                   suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
        def check(case):
            # Schema-valid input may still be refused on meaning (an unknown procedure code is a well-formed
            # string): a documented 422, so "positive data acceptance" does not apply to this API.
            case.call_and_validate(headers=all_scopes, excluded_checks=[positive_data_acceptance])
            calls[case.operation.label] = calls.get(case.operation.label, 0) + 1

        check()
    print(f"fuzzed {sum(calls.values())} cases over {len(calls)} operations")  # noqa: T201 - reported in CI output
    assert len(calls) >= 5
