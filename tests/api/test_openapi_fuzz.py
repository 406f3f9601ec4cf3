"""Schemathesis against the OpenAPI schema: no input the schema allows (or not) yields a 500,
and every error answer is a problem-details document.

Requests carry a platform administrator's token on staff paths and a resident's on My Page
paths, so the fuzzer reaches past authentication into the services.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode

from api.app import create_app
from api.settings import ApiSettings
from tests.api.conftest import (
    FakeCardVerifier,
    FakeClock,
    FakeLedger,
    FakePointsLedger,
    SequenceGenerator,
    login,
    register_resident,
)

STAFF_PREFIXES = ("/staff", "/audit-records", "/operator")
RESIDENT_PREFIXES = ("/me", "/sessions")
EXAMPLES_PER_OPERATION = 20


@pytest.fixture
def fuzz_app(settings: ApiSettings) -> Iterator[tuple[FastAPI, dict[str, str]]]:
    registry = FakeLedger()
    app = create_app(
        settings,
        ledger=registry,
        points=FakePointsLedger(registry=registry),
        cards=FakeCardVerifier(),
        clock=FakeClock(),
        generate_candidate=SequenceGenerator(),
    )
    with TestClient(app) as client:
        register_resident(client, "TANAKA01")
        resident = login(client)
        from api.passwords import PasswordService
        from api.services.audit import SYSTEM_ACTOR
        from api.services.staff import create_staff_account
        from tests.api.conftest import ADMIN_PASSWORD, FAST_HASHING

        with app.state.services.store.sessions() as db:
            create_staff_account(
                db=db,
                passwords=PasswordService(FAST_HASHING),
                actor=SYSTEM_ACTOR,
                login_name="platform.admin",
                password=ADMIN_PASSWORD,
                role="platform-admin",
                organisation=None,
                now=app.state.services.clock.now(),
            )
            create_staff_account(
                db=db,
                passwords=PasswordService(FAST_HASHING),
                actor=SYSTEM_ACTOR,
                login_name="kawasaki.staff",
                password=ADMIN_PASSWORD,
                role="municipal-staff",
                organisation="14130",
                now=app.state.services.clock.now(),
            )
        admin, granter = (
            client.post(
                "/staff/sessions", json={"login_name": name, "password": ADMIN_PASSWORD}
            ).json()["token"]
            for name in ("platform.admin", "kawasaki.staff")
        )
        yield app, {"resident": resident, "staff": admin, "granter": granter}


def check_response(case: Any, tokens: dict[str, str]) -> None:
    """Call the app with `case` (as the right kind of user) and check the answer."""
    path: str = case.path
    headers = dict(case.headers or {})
    if path.startswith("/grants"):
        headers["Authorization"] = f"Bearer {tokens['granter']}"
    elif path.startswith(STAFF_PREFIXES):
        headers["Authorization"] = f"Bearer {tokens['staff']}"
    elif path.startswith(RESIDENT_PREFIXES):
        headers["Authorization"] = f"Bearer {tokens['resident']}"
    response = case.call(headers=headers)
    label = f"{case.method} {case.formatted_path}"
    assert response.status_code < 500, (label, response.status_code, response.text)
    if response.status_code >= 400:
        content_type = response.headers["content-type"]
        content_type = content_type[0] if isinstance(content_type, list) else content_type
        assert content_type.startswith("application/problem+json"), (label, content_type)


def test_no_input_makes_a_server_error(fuzz_app: tuple[FastAPI, dict[str, str]]) -> None:
    app, tokens = fuzz_app
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 15
    without_inputs: list[str] = []
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(
                max_examples=EXAMPLES_PER_OPERATION,
                deadline=None,
                database=None,
                suppress_health_check=list(HealthCheck),
            )
            def run(case: Any) -> None:
                check_response(case, tokens)

            try:
                run()
            except Unsatisfiable:
                # an operation with no inputs has no invalid inputs to generate
                assert mode is GenerationMode.NEGATIVE, operation.label
                without_inputs.append(operation.label)
    assert len(without_inputs) < len(operations) // 2, without_inputs
