"""The API contract: a valid OpenAPI 3 document, every operation behind authentication, one error shape."""

import re

import pytest
from django.test import Client
from openapi_spec_validator import validate

pytestmark = pytest.mark.django_db

PUBLIC_OPERATIONS = {("post", "/api/v1/auth/token")}
HTTP_METHODS = {"get", "post", "put", "patch", "delete"}


@pytest.fixture
def spec(client):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    return response.json()


def operations(spec):
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if method in HTTP_METHODS:
                yield method, path, operation


def concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "1", path)


def assert_error_shape(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "fields"}
    assert body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    assert isinstance(body["error"]["fields"], dict)
    return body["error"]


def test_openapi_document_is_valid_openapi_3(spec):
    validate(spec)
    assert spec["openapi"].startswith("3.")
    assert spec["info"]["title"] == "Anju API"


def test_schema_lists_the_org_endpoints(spec):
    found = {(method, path) for method, path, _operation in operations(spec)}
    assert {
        ("post", "/api/v1/auth/token"),
        ("get", "/api/v1/auth/tokens"),
        ("delete", "/api/v1/auth/tokens/{token_id}"),
        ("get", "/api/v1/me"),
        ("get", "/api/v1/branches"),
        ("get", "/api/v1/branches/{branch_id}"),
        ("get", "/api/v1/teams"),
        ("get", "/api/v1/teams/{team_id}"),
        ("get", "/api/v1/users"),
        ("get", "/api/v1/users/{user_id}"),
    } <= found


def test_both_security_schemes_are_declared(spec):
    schemes = spec["components"]["securitySchemes"]
    assert schemes["BearerToken"] == {
        "type": "http",
        "scheme": "bearer",
        "description": schemes["BearerToken"]["description"],
    }
    assert schemes["Session"]["type"] == "apiKey"
    assert schemes["Session"]["in"] == "cookie"


def test_every_operation_but_token_issue_declares_security(spec):
    for method, path, operation in operations(spec):
        if (method, path) in PUBLIC_OPERATIONS:
            assert not operation.get("security"), f"{method.upper()} {path} should be public"
            continue
        security = operation.get("security")
        assert security, f"{method.upper()} {path} declares no security"
        assert {name for requirement in security for name in requirement} == {"BearerToken", "Session"}
        assert "401" in operation["responses"], f"{method.upper()} {path} does not document 401"


def test_every_protected_operation_answers_401_without_credentials(spec):
    # A real browser client (CSRF enforced): anonymous unsafe methods get 401, not a CSRF 403.
    anonymous = Client(enforce_csrf_checks=True)
    checked = 0
    for method, path, _operation in operations(spec):
        if (method, path) in PUBLIC_OPERATIONS:
            continue
        response = getattr(anonymous, method)(concrete(path), content_type="application/json")
        error = assert_error_shape(response, 401, "not_authenticated")
        assert error["fields"] == {}
        checked += 1
    assert checked >= 9


def test_a_wrong_bearer_token_is_401_too(spec, p):
    for method, path, _operation in operations(spec):
        if (method, path) in PUBLIC_OPERATIONS:
            continue
        response = getattr(Client(), method)(concrete(path), HTTP_AUTHORIZATION="Bearer anju_not-a-real-token")
        assert_error_shape(response, 401, "not_authenticated")


def test_error_responses_in_the_schema_use_the_error_shape(spec):
    error_ref = "#/components/schemas/ErrorOut"
    for method, path, operation in operations(spec):
        for status, response in operation["responses"].items():
            if status.startswith("4"):
                schema = response["content"]["application/json"]["schema"]
                assert schema == {"$ref": error_ref}, f"{method.upper()} {path} {status}"
    error_body = spec["components"]["schemas"]["ErrorBody"]
    assert set(error_body["required"]) == {"code", "message", "fields"}


def test_paginated_lists_document_their_bounds(spec):
    parameters = {param["name"]: param for param in spec["paths"]["/api/v1/users"]["get"]["parameters"]}
    assert parameters["page"]["schema"]["minimum"] == 1
    assert parameters["page"]["schema"]["maximum"] == 100_000
    assert parameters["page_size"]["schema"]["maximum"] == 200
    paged = spec["components"]["schemas"]["PagedUserOut"]
    assert set(paged["required"]) >= {"count", "page", "page_size", "items"}


def test_user_schema_exposes_only_the_masked_phone(spec):
    properties = spec["components"]["schemas"]["UserOut"]["properties"]
    assert "phone" in properties
    assert "phone_masked" not in properties
    assert "phone_index" not in properties
    assert "password" not in properties


def test_docs_page_renders_publicly_and_points_at_the_schema(client):
    # Decision: the Swagger page and the schema are public (they describe the API and hold
    # no data); every operation they list needs a token or a session.
    response = client.get("/api/v1/docs")
    assert response.status_code == 200
    assert b"/api/v1/openapi.json" in response.content


def test_unknown_json_body_is_a_400_in_the_error_shape(p):
    response = Client().post("/api/v1/auth/token", data="{not json", content_type="application/json")
    assert_error_shape(response, 400, "bad_request")


def test_missing_fields_are_422_with_field_messages(p):
    response = Client().post("/api/v1/auth/token", data={"username": "agent"}, content_type="application/json")
    error = assert_error_shape(response, 422, "validation_error")
    assert "password" in error["fields"]


def test_docs_page_uses_no_cdn(client):
    content = client.get("/api/v1/docs").content.decode()
    assert "cdn.jsdelivr.net" not in content
    assert "/static/ninja/swagger-ui-bundle.js" in content


# --- issue #9: the schema tells the truth about bounds and statuses -----------------------------


def _schema():
    from anju.core.api import api

    return api.get_openapi_schema()


def _leaves(spec: dict, schema: dict, seen: frozenset = frozenset()):
    """Every typed leaf of a request schema, following $refs, anyOf, array items and properties."""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        if name not in seen:
            yield from _leaves(spec, spec["components"]["schemas"][name], seen | {name})
        return
    for option in schema.get("anyOf", []) + schema.get("allOf", []):
        yield from _leaves(spec, option, seen)
    if "items" in schema:
        yield from _leaves(spec, schema["items"], seen)
    for child in schema.get("properties", {}).values():
        yield from _leaves(spec, child, seen)
    if "type" in schema:
        yield schema


def test_every_operation_documents_422_for_its_input_and_400_for_a_malformed_body():
    spec = _schema()
    for method, path, operation in operations(spec):
        label = f"{method.upper()} {path}"
        statuses = {str(status) for status in operation["responses"]}
        if operation.get("parameters") or "requestBody" in operation:
            assert "422" in statuses, f"{label} does not document 422"
        if "requestBody" in operation:
            assert "400" in statuses, f"{label} does not document 400 (malformed JSON)"


def test_every_integer_a_client_sends_is_bounded():
    """Unbounded input reached the database as 500s (OverflowError on SQLite, DataError on PostgreSQL)."""
    spec = _schema()
    checked = 0
    for method, path, operation in operations(spec):
        schemas = [param["schema"] for param in operation.get("parameters", [])]
        if "requestBody" in operation:
            schemas.append(operation["requestBody"]["content"]["application/json"]["schema"])
        for schema in schemas:
            for leaf in _leaves(spec, schema):
                if leaf["type"] == "integer":
                    assert "maximum" in leaf, f"{method.upper()} {path}: {leaf}"
                    checked += 1
    assert checked > 50


def test_body_strings_are_bounded_except_decimal_alternatives():
    """An over-long string must be a 422, not a database error on PostgreSQL. Decimals are offered as
    strings too; their bound is the number's (max_digits)."""
    spec = _schema()
    for name, component in spec["components"]["schemas"].items():
        if not name.endswith(("In", "Patch")):
            continue
        for field, prop in component.get("properties", {}).items():
            options = prop.get("anyOf", [prop])
            options += [option["items"] for option in options if "items" in option]
            numeric = any(option.get("type") == "number" for option in options)
            for option in options:
                if option.get("type") == "string" and not numeric and not {"enum", "const", "format"} & set(option):
                    assert "maxLength" in option, f"{name}.{field} has no maxLength"
