"""/api/v1 for the organisation: tokens, lockout, /me, and the scoped branches, teams and users."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django.utils.crypto import get_random_string

from anju.core.models import AuditEvent
from anju.org.models import ApiToken
from anju.org.services import auth as auth_services
from anju.org.services import users
from anju.testing import PASSWORD, UserFactory
from tests.helpers import assert_error

pytestmark = pytest.mark.django_db

ALL_USERNAMES = {"agent", "agent2", "agent3", "lead", "manager", "cs", "legal", "finance", "qa", "admin", "auditor"}
BRANCH_A = {"agent", "agent2", "lead", "manager", "cs", "legal", "finance"}

USERS_SEEN_BY = {
    "agent": {"agent"},
    "agent2": {"agent2"},
    "agent3": {"agent3"},
    "lead": {"lead", "agent"},
    "manager": BRANCH_A,
    "cs": BRANCH_A,
    "legal": BRANCH_A,
    "finance": BRANCH_A,
    "qa": ALL_USERNAMES,
    "admin": ALL_USERNAMES,
    "auditor": ALL_USERNAMES,
}
TEAMS_A = {"滨江一组", "滨江二组"}
TEAMS_SEEN_BY = {
    # "own" scope has no owner path on teams: agents see no team rows (deny by default).
    "agent": set(),
    "agent2": set(),
    "agent3": set(),
    "lead": {"滨江一组"},
    "manager": TEAMS_A,
    "cs": TEAMS_A,
    "legal": TEAMS_A,
    "finance": TEAMS_A,
    "qa": {*TEAMS_A, "西湖一组"},
    "admin": {*TEAMS_A, "西湖一组"},
    "auditor": {*TEAMS_A, "西湖一组"},
}
BRANCHES_SEEN_BY = {
    "manager": {"A-BINJIANG"},
    "qa": {"R-EAST", "A-BINJIANG", "B-XIHU"},
    "admin": {"R-EAST", "A-BINJIANG", "B-XIHU"},
    "auditor": {"R-EAST", "A-BINJIANG", "B-XIHU"},
}
WITHOUT_VIEW_BRANCH = ["agent", "agent2", "agent3", "lead", "cs", "legal", "finance"]


def bearer(user) -> dict:
    _token, raw = auth_services.token_create(actor=user, name="tests")
    return {"HTTP_AUTHORIZATION": f"Bearer {raw}"}


@pytest.fixture
def api_get(p):
    """``api_get(persona_name, path)`` → response, authenticated with a fresh bearer token."""
    headers: dict[str, dict] = {}

    def _get(name: str, path: str, **params):
        if name not in headers:
            headers[name] = bearer(getattr(p, name))
        return Client().get(path, params, **headers[name])

    return _get


def issue(client, username, password, **extra):
    return client.post(
        "/api/v1/auth/token", {"username": username, "password": password}, content_type="application/json", **extra
    )


def all_items(api_get, name, path):
    response = api_get(name, path, page_size=200)
    assert response.status_code == 200, response.content
    return response.json()["items"]


# --- token issue and use ----------------------------------------------------------------------


def test_good_credentials_issue_a_token_that_works_as_bearer(p):
    response = issue(Client(), "agent", PASSWORD)
    assert response.status_code == 201
    body = response.json()
    assert body["token"].startswith("anju_")
    assert body["name"] == "API"
    token = ApiToken.objects.get(user=p.agent)
    assert token.key_hash != body["token"] and body["token"] not in token.key_hash  # only the hash is stored

    me = Client().get("/api/v1/me", HTTP_AUTHORIZATION=f"Bearer {body['token']}")
    assert me.status_code == 200
    data = me.json()
    assert data["username"] == "agent"
    assert data["roles"] == ["sales_agent"]
    assert data["data_scope"] == "own"
    assert "org.view_user" in data["permissions"]
    assert "org.manage_users" not in data["permissions"]
    assert data["phone"] == p.agent.phone[:3] + "****" + p.agent.phone[-4:]
    token.refresh_from_db()
    assert token.last_used_at is not None


def test_token_issue_is_audited_as_a_login_and_a_token(p):
    issue(Client(), "agent", PASSWORD, HTTP_USER_AGENT="crm-sync/1.0")
    login = AuditEvent.objects.get(action="auth.login")
    assert login.actor == p.agent
    assert login.source == "api"
    created = AuditEvent.objects.get(action="org.api_token.created")
    assert created.actor == p.agent
    assert "token" not in created.after and "key_hash" not in created.after


def test_bad_password_is_401_and_audited_as_failed_login(p):
    response = issue(Client(), "agent", "not-the-password")
    assert_error(response, 401, "auth.invalid_credentials")
    assert not ApiToken.objects.exists()
    event = AuditEvent.objects.get(action="auth.login_failed")
    assert event.actor is None
    assert event.actor_name == "agent"
    assert event.after == {"username": "agent"}
    assert event.source == "api"
    assert event.ip == "127.0.0.1"
    assert "not-the-password" not in str(event.after) + event.reason


def test_unknown_user_is_the_same_401(p):
    assert_error(issue(Client(), "nobody", PASSWORD), 401, "auth.invalid_credentials")


def test_suspended_user_cannot_get_a_token(p):
    users.user_set_status(actor=p.admin, user=p.agent, status="suspended", reason="调查中")
    assert_error(issue(Client(), "agent", PASSWORD), 401, "auth.invalid_credentials")


def test_five_failures_for_the_same_username_and_ip_lock_the_login(p):
    client = Client()
    for _attempt in range(4):
        assert_error(issue(client, "agent", "wrong-password"), 401, "auth.invalid_credentials")
    assert_error(issue(client, "agent", "wrong-password"), 429, "auth.locked_out")
    # Locked: even the right password is refused from this IP …
    assert_error(issue(client, "agent", PASSWORD), 429, "auth.locked_out")
    assert not ApiToken.objects.filter(user=p.agent).exists()
    # … but the lockout is per username + IP: another address and another user still work.
    assert issue(Client(), "agent", PASSWORD, REMOTE_ADDR="10.1.2.3").status_code == 201
    assert issue(client, "agent2", PASSWORD).status_code == 201


def test_admin_unlock_releases_the_api_lockout(p):
    client = Client()
    for _attempt in range(5):
        issue(client, "agent", "wrong-password")
    assert issue(client, "agent", PASSWORD).status_code == 429
    cleared = auth_services.login_unlock(actor=p.admin, username="agent")
    assert cleared >= 1
    assert issue(client, "agent", PASSWORD).status_code == 201


def test_success_clears_earlier_failures(p):
    client = Client()
    for _attempt in range(4):
        issue(client, "agent", "wrong-password")
    assert issue(client, "agent", PASSWORD).status_code == 201
    for _attempt in range(4):
        assert issue(client, "agent", "wrong-password").status_code == 401


def test_revoked_token_is_401(p):
    token, raw = auth_services.token_create(actor=p.agent, name="old")
    headers = {"HTTP_AUTHORIZATION": f"Bearer {raw}"}
    assert Client().get("/api/v1/me", **headers).status_code == 200
    assert Client().delete(f"/api/v1/auth/tokens/{token.pk}", **headers).status_code == 204
    token.refresh_from_db()
    assert token.revoked_at is not None
    assert AuditEvent.objects.filter(action="org.api_token.revoked", actor=p.agent).count() == 1
    assert_error(Client().get("/api/v1/me", **headers), 401, "not_authenticated")


def test_expired_token_is_401(p):
    token, raw = auth_services.token_create(actor=p.agent, name="short")
    ApiToken.objects.filter(pk=token.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert_error(Client().get("/api/v1/me", HTTP_AUTHORIZATION=f"Bearer {raw}"), 401, "not_authenticated")


def test_token_of_a_suspended_user_is_401(p):
    _token, raw = auth_services.token_create(actor=p.agent, name="crm")
    headers = {"HTTP_AUTHORIZATION": f"Bearer {raw}"}
    # Even if the token row itself were left unrevoked, an inactive owner ends it.
    type(p.agent).objects.filter(pk=p.agent.pk).update(is_active=False, status="suspended")
    assert_error(Client().get("/api/v1/me", **headers), 401, "not_authenticated")


def test_suspension_revokes_tokens(p):
    token, raw = auth_services.token_create(actor=p.agent, name="crm")
    users.user_set_status(actor=p.admin, user=p.agent, status="suspended", reason="离职交接")
    token.refresh_from_db()
    assert token.revoked_at is not None
    users.user_set_status(actor=p.admin, user=p.agent, status="active", reason="复职")
    assert_error(Client().get("/api/v1/me", HTTP_AUTHORIZATION=f"Bearer {raw}"), 401, "not_authenticated")


def test_token_without_the_prefix_or_malformed_header_is_401(p):
    _token, raw = auth_services.token_create(actor=p.agent, name="crm")
    for header in (raw, f"Token {raw}", f"Bearer {raw[5:]}", "Bearer "):
        assert_error(Client().get("/api/v1/me", HTTP_AUTHORIZATION=header), 401, "not_authenticated")


def test_token_list_shows_own_tokens_without_secrets(p, api_get):
    auth_services.token_create(actor=p.agent, name="mine")
    auth_services.token_create(actor=p.agent2, name="theirs")
    response = api_get("agent", "/api/v1/auth/tokens")
    assert response.status_code == 200
    names = {row["name"] for row in response.json()}
    assert names == {"mine", "tests"}
    for row in response.json():
        assert set(row) == {"id", "name", "prefix", "created_at", "expires_at", "last_used_at", "revoked_at"}


def test_cannot_revoke_someone_elses_token(p):
    theirs, _raw = auth_services.token_create(actor=p.agent2, name="theirs")
    response = Client().delete(f"/api/v1/auth/tokens/{theirs.pk}", **bearer(p.agent))
    assert_error(response, 404, "not_found")
    theirs.refresh_from_db()
    assert theirs.revoked_at is None


# --- session auth and CSRF -----------------------------------------------------------------


def test_browser_session_works_for_reads(p, client):
    client.force_login(p.manager)
    response = client.get("/api/v1/me")
    assert response.status_code == 200
    assert response.json()["username"] == "manager"
    assert response.json()["data_scope"] == "branch"


def test_unsafe_method_with_session_needs_csrf(p):
    token, _raw = auth_services.token_create(actor=p.agent, name="crm")
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(p.agent)

    response = browser.delete(f"/api/v1/auth/tokens/{token.pk}")
    assert_error(response, 403, "csrf_failed")
    token.refresh_from_db()
    assert token.revoked_at is None

    secret = get_random_string(32)
    browser.cookies["csrftoken"] = secret
    response = browser.delete(f"/api/v1/auth/tokens/{token.pk}", HTTP_X_CSRFTOKEN=secret)
    assert response.status_code == 204
    token.refresh_from_db()
    assert token.revoked_at is not None


def test_bearer_token_needs_no_csrf(p):
    token, raw = auth_services.token_create(actor=p.agent, name="crm")
    response = Client(enforce_csrf_checks=True).delete(
        f"/api/v1/auth/tokens/{token.pk}", HTTP_AUTHORIZATION=f"Bearer {raw}"
    )
    assert response.status_code == 204


def test_suspended_users_session_no_longer_reaches_the_api(p):
    browser = Client()
    browser.force_login(p.agent)
    assert browser.get("/api/v1/me").status_code == 200
    users.user_set_status(actor=p.admin, user=p.agent, status="suspended", reason="违规")
    assert_error(browser.get("/api/v1/me"), 401, "not_authenticated")


# --- lists, pagination, permissions --------------------------------------------------------


@pytest.mark.parametrize("path", ["/api/v1/branches", "/api/v1/teams", "/api/v1/users"])
def test_lists_are_paginated(api_get, path):
    response = api_get("admin", path, page=1, page_size=2)
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"count", "page", "page_size", "items"}
    assert body["page"] == 1 and body["page_size"] == 2
    assert len(body["items"]) == min(2, body["count"])
    assert body["count"] >= 3


def test_pages_walk_the_whole_list(api_get):
    seen = []
    for page in (1, 2, 3):
        body = api_get("admin", "/api/v1/users", page=page, page_size=5).json()
        assert body["count"] == 11
        seen += [row["username"] for row in body["items"]]
    assert len(seen) == 11 and set(seen) == ALL_USERNAMES
    assert api_get("admin", "/api/v1/users", page=4, page_size=5).json()["items"] == []


@pytest.mark.parametrize("path", ["/api/v1/branches", "/api/v1/teams", "/api/v1/users"])
@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"page_size": 201}, "page_size"),
        ({"page_size": 0}, "page_size"),
        ({"page": 0}, "page"),
        ({"page": "x"}, "page"),
    ],
)
def test_bad_paging_is_422(api_get, path, params, field):
    error = assert_error(api_get("admin", path, **params), 422, "validation_error")
    assert field in error["fields"]


def test_page_size_200_is_allowed(api_get):
    assert api_get("admin", "/api/v1/users", page_size=200).status_code == 200


@pytest.mark.parametrize("name", sorted(USERS_SEEN_BY))
def test_user_list_is_scoped(api_get, name):
    items = all_items(api_get, name, "/api/v1/users")
    assert {row["username"] for row in items} == USERS_SEEN_BY[name]
    assert api_get(name, "/api/v1/users").json()["count"] == len(USERS_SEEN_BY[name])


@pytest.mark.parametrize("name", sorted(TEAMS_SEEN_BY))
def test_team_list_is_scoped(api_get, name):
    items = all_items(api_get, name, "/api/v1/teams")
    assert {row["name"] for row in items} == TEAMS_SEEN_BY[name]


@pytest.mark.parametrize("name", sorted(BRANCHES_SEEN_BY))
def test_branch_list_is_scoped(api_get, name):
    items = all_items(api_get, name, "/api/v1/branches")
    assert {row["code"] for row in items} == BRANCHES_SEEN_BY[name]


@pytest.mark.parametrize("name", WITHOUT_VIEW_BRANCH)
def test_roles_without_view_branch_get_403_on_branches(p, api_get, name):
    assert_error(api_get(name, "/api/v1/branches"), 403, "permission_denied")
    assert_error(api_get(name, f"/api/v1/branches/{p.branch_a.pk}"), 403, "permission_denied")


def test_user_without_roles_sees_nothing(p):
    nobody = UserFactory(username="nobody", branch=p.branch_a, team=p.team_a1)
    headers = bearer(nobody)
    me = Client().get("/api/v1/me", **headers)
    assert me.status_code == 200
    assert me.json()["data_scope"] is None
    assert me.json()["permissions"] == []
    for path in ("/api/v1/users", "/api/v1/teams", "/api/v1/branches", f"/api/v1/users/{nobody.pk}"):
        assert_error(Client().get(path, **headers), 403, "permission_denied")


@pytest.mark.parametrize(
    ("name", "target"),
    [
        ("agent", "agent2"),
        ("agent", "lead"),
        ("agent2", "agent"),
        ("agent3", "agent"),
        ("lead", "agent2"),
        ("lead", "manager"),
        ("manager", "agent3"),
        ("manager", "qa"),
        ("cs", "admin"),
    ],
)
def test_out_of_scope_user_is_404(p, api_get, name, target):
    assert_error(api_get(name, f"/api/v1/users/{getattr(p, target).pk}"), 404, "not_found")


@pytest.mark.parametrize(
    ("name", "target"),
    [
        ("agent", "agent"),
        ("lead", "agent"),
        ("manager", "agent2"),
        ("admin", "agent3"),
        ("auditor", "qa"),
    ],
)
def test_in_scope_user_detail(p, api_get, name, target):
    response = api_get(name, f"/api/v1/users/{getattr(p, target).pk}")
    assert response.status_code == 200
    assert response.json()["username"] == target


def test_out_of_scope_team_and_branch_are_404(p, api_get):
    assert_error(api_get("manager", f"/api/v1/teams/{p.team_b1.pk}"), 404, "not_found")
    assert_error(api_get("lead", f"/api/v1/teams/{p.team_a2.pk}"), 404, "not_found")
    assert_error(api_get("manager", f"/api/v1/branches/{p.branch_b.pk}"), 404, "not_found")
    assert_error(api_get("manager", f"/api/v1/branches/{p.region.pk}"), 404, "not_found")
    assert api_get("manager", f"/api/v1/teams/{p.team_a2.pk}").status_code == 200
    assert api_get("manager", f"/api/v1/branches/{p.branch_a.pk}").status_code == 200
    assert_error(api_get("admin", "/api/v1/users/999999"), 404, "not_found")


def test_filters_narrow_the_user_list(p, api_get):
    def names(**params):
        return {row["username"] for row in api_get("admin", "/api/v1/users", **params).json()["items"]}

    assert names(branch=p.branch_b.pk) == {"agent3"}
    assert names(team=p.team_a1.pk) == {"agent", "lead"}
    assert names(role="sales_agent") == {"agent", "agent2", "agent3"}
    assert names(search="agent2") == {"agent2"}
    # Filters never widen the scope.
    assert api_get("manager", "/api/v1/users", branch=p.branch_b.pk).json()["items"] == []


def test_team_row_shape(p, api_get):
    item = next(row for row in all_items(api_get, "admin", "/api/v1/teams") if row["name"] == "滨江一组")
    assert item["branch"] == {"id": p.branch_a.pk, "name": "滨江案场"}
    assert item["lead"] == {"id": p.lead.pk, "name": "王主管"}


# --- personal data ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(USERS_SEEN_BY))
def test_full_phone_numbers_never_appear(p, api_get, name):
    full_numbers = [user.phone for user in p.all_users()]
    assert all(len(number) == 11 for number in full_numbers)
    responses = [api_get(name, "/api/v1/users", page_size=200), api_get(name, "/api/v1/me")]
    responses += [api_get(name, f"/api/v1/users/{user.pk}") for user in p.all_users()]
    for response in responses:
        content = response.content.decode()
        for number in full_numbers:
            assert number not in content
    masked = {row["phone"] for row in responses[0].json()["items"]}
    assert all("****" in phone for phone in masked)


# --- performance -----------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "expected"), [("admin", 11 + 40), ("manager", 7 + 40)])
def test_user_list_query_count_does_not_grow_with_rows(p, api_get, django_assert_max_num_queries, name, expected):
    api_get(name, "/api/v1/users")  # warm up: the token's last_used_at is written at most once a minute
    with CaptureQueriesContext(connection) as few_rows:
        assert api_get(name, "/api/v1/users", page_size=200).status_code == 200
    for index in range(40):
        team = p.team_a1 if index % 2 else p.team_a2
        UserFactory(branch=p.branch_a, team=team, roles=["sales_agent", "customer_service"])
    with django_assert_max_num_queries(len(few_rows)):
        response = api_get(name, "/api/v1/users", page_size=200)
    assert response.json()["count"] == expected
    assert len(response.json()["items"]) == expected
