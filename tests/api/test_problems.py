"""Every error is an RFC 9457 problem: validation, 404, 405, 413, 500; body size limit."""

from __future__ import annotations

from collections.abc import Iterator

from fastapi.testclient import TestClient

PROBLEM = "application/problem+json"


def assert_problem(response: object, status: int) -> dict[str, object]:
    from httpx import Response

    assert isinstance(response, Response)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body: dict[str, object] = response.json()
    assert {"type", "title", "status", "detail"} <= set(body)
    assert body["status"] == status
    return body


def test_unknown_path_is_a_404_problem(client: TestClient) -> None:
    body = assert_problem(client.get("/no/such/thing"), 404)
    assert body["type"] == "about:blank"
    assert body["title"] == "Not Found"
    assert body["instance"] == "/no/such/thing"


def test_wrong_method_is_a_405_problem_with_allow(client: TestClient) -> None:
    response = client.delete("/prefectures")
    assert_problem(response, 405)
    assert response.headers["allow"] == "GET"


def test_missing_and_wrongly_typed_fields_each_get_an_entry(client: TestClient) -> None:
    body = assert_problem(client.post("/sessions", json={"password": 5}), 422)
    errors = {error["field"]: error["code"] for error in body["errors"]}  # type: ignore[attr-defined]
    assert errors == {"mykey_id": "required", "password": "password-format"}


def test_malformed_json_is_a_422_problem(client: TestClient) -> None:
    body = assert_problem(
        client.post(
            "/sessions", content=b"{not json", headers={"Content-Type": "application/json"}
        ),
        422,
    )
    assert body["type"] == "urn:mykey-ledger:problem:invalid-fields"


def test_declared_oversized_body_is_refused_before_parsing(client: TestClient) -> None:
    body = assert_problem(
        client.post(
            "/sessions",
            content=b"x" * (64 * 1024 + 1),
            headers={"Content-Type": "application/json"},
        ),
        413,
    )
    assert body["max_body_bytes"] == 64 * 1024


def test_streamed_oversized_body_is_refused(client: TestClient) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(80):
            yield b" " * 1024

    response = client.post(
        "/sessions", content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert "content-length" not in response.request.headers
    assert_problem(response, 413)


def test_a_body_at_the_limit_is_parsed(client: TestClient) -> None:
    padding = " " * (64 * 1024 - 60)
    payload = ('{"mykey_id": "NOBODY01", "password": "Wrong123"}' + padding).encode()
    assert len(payload) <= 64 * 1024
    response = client.post(
        "/sessions", content=payload, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 401


def test_unexpected_errors_are_500_problems_without_internals(client: TestClient) -> None:
    def explode() -> None:
        raise RuntimeError("secret internal state")

    client.app.add_api_route("/explode", explode)  # type: ignore[attr-defined]
    body = assert_problem(client.get("/explode"), 500)
    assert "secret" not in str(body)
    assert body["type"] == "urn:mykey-ledger:problem:internal-error"


def test_openapi_documents_every_operation_with_examples(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    operations = [
        (path, method, operation)
        for path, item in schema["paths"].items()
        for method, operation in item.items()
    ]
    assert len(operations) >= 15
    for path, method, operation in operations:
        assert operation.get("summary"), (path, method)
    components = schema["components"]["schemas"]
    for name in [
        "Problem",
        "RegistrationCompletionRequest",
        "RegistrationStateResponse",
        "LoginRequest",
        "SessionResponse",
        "StaffAccountCreateRequest",
        "HealthResponse",
    ]:
        assert components[name].get("examples"), name
    assert set(schema["components"]["securitySchemes"]) == {"residentSession", "staffSession"}
