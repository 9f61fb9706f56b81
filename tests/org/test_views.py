"""The administrators' organisation pages and the account pages: permissions, scope and outcomes."""

from __future__ import annotations

import pytest
from axes.models import AccessAttempt
from django.contrib.auth.models import Permission
from django.contrib.sessions.models import Session
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from anju.core.models import AuditEvent
from anju.core.scoping import Scope
from anju.org.choices import UserStatus
from anju.org.models import ApiToken, Branch, Role, Team, User, UserSession
from anju.org.services import auth as auth_services
from anju.testing import PASSWORD, UserFactory
from tests.helpers import as_user, csv_text

pytestmark = pytest.mark.django_db

STRONG = "Plum-blossom-2026!"


# --- personas beyond the standard set -----------------------------------------------------------


@pytest.fixture
def roleless(p):
    """An employee with no role: no permission at all."""
    return UserFactory(username="roleless", branch=p.branch_a, team=p.team_a1)


@pytest.fixture
def branch_admin(p):
    """An administrator for branch A only (manage users, branch scope), to prove out-of-scope is 404."""
    role = Role.objects.create(code="branch_admin", name="Branch administrator", data_scope=Scope.BRANCH)
    role.permissions.set(
        Permission.objects.filter(
            content_type__app_label="org", codename__in=["view_user", "view_team", "view_branch", "manage_users"]
        )
    )
    return UserFactory(username="branchadmin", branch=p.branch_a, roles=["branch_admin"])


def persona(p, request, name):
    if name in ("roleless", "branch_admin"):
        return request.getfixturevalue(name)
    return getattr(p, name)


def url(p, name, target=None):
    """Reverse an org URL; ``target`` names a persona attribute whose pk goes in the URL."""
    if target is None:
        return reverse(f"org:{name}")
    return reverse(f"org:{name}", kwargs={"pk": getattr(p, target).pk})


# --- the permission matrix ----------------------------------------------------------------------

GET_PAGES = [
    ("user-list", None),
    ("user-export", None),
    ("user-create", None),
    ("user-detail", "agent"),
    ("user-edit", "agent"),
    ("user-status", "agent"),
    ("user-roles", "agent"),
    ("user-password", "agent"),
    ("team-list", None),
    ("team-export", None),
    ("team-create", None),
    ("team-detail", "team_a1"),
    ("team-edit", "team_a1"),
    ("branch-list", None),
    ("branch-create", None),
    ("branch-edit", "branch_a"),
    ("role-list", None),
    ("role-create", None),
    ("lockout-list", None),
]


@pytest.mark.parametrize(("name", "target"), GET_PAGES)
def test_anonymous_is_sent_to_login(client, p, name, target):
    response = client.get(url(p, name, target))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_anonymous_cannot_unlock_or_change_status(client, p):
    for response in (
        client.post(url(p, "lockout-unlock"), {"username": "agent"}),
        client.post(url(p, "user-status", "agent"), {"status": "suspended", "reason": "x"}),
    ):
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("login"))
    p.agent.refresh_from_db()
    assert p.agent.status == UserStatus.ACTIVE


@pytest.mark.parametrize(
    ("name", "target", "who"),
    [
        ("user-list", None, "roleless"),
        ("user-export", None, "roleless"),
        ("user-detail", "agent", "roleless"),
        ("user-create", None, "manager"),
        ("user-edit", "agent", "manager"),
        ("user-status", "agent", "manager"),
        ("user-roles", "agent", "lead"),
        ("user-password", "agent", "auditor"),
        ("team-list", None, "roleless"),
        ("team-export", None, "roleless"),
        ("team-detail", "team_a1", "roleless"),
        ("team-create", None, "manager"),
        ("team-edit", "team_a1", "manager"),
        ("branch-list", None, "agent"),
        ("branch-create", None, "manager"),
        ("branch-edit", "branch_a", "manager"),
        ("role-list", None, "manager"),
        ("role-create", None, "auditor"),
        ("lockout-list", None, "manager"),
    ],
)
def test_wrong_role_gets_403(client, p, request, name, target, who):
    response = as_user(client, persona(p, request, who)).get(url(p, name, target))
    assert response.status_code == 403


def test_wrong_role_cannot_post_manage_actions(client, p):
    as_user(client, p.manager)
    assert client.post(url(p, "user-status", "agent"), {"status": "suspended", "reason": "x"}).status_code == 403
    assert client.post(url(p, "user-password", "agent"), {"new_password": STRONG, "confirm": STRONG}).status_code == 403
    assert client.post(url(p, "lockout-unlock"), {"username": "agent"}).status_code == 403
    p.agent.refresh_from_db()
    assert p.agent.status == UserStatus.ACTIVE
    assert p.agent.check_password(PASSWORD)


def test_role_edit_needs_manage_roles(client, p):
    role = Role.objects.get(code="sales_agent")
    response = as_user(client, p.auditor).get(reverse("org:role-edit", kwargs={"pk": role.pk}))
    assert response.status_code == 403


@pytest.mark.parametrize(
    ("name", "target", "who"),
    [
        ("user-detail", "agent3", "manager"),
        ("user-detail", "agent2", "lead"),
        ("user-detail", "admin", "agent"),
        ("user-edit", "agent3", "branch_admin"),
        ("user-status", "agent3", "branch_admin"),
        ("user-roles", "agent3", "branch_admin"),
        ("user-password", "agent3", "branch_admin"),
        ("team-detail", "team_b1", "manager"),
        ("team-detail", "team_a2", "lead"),
        ("team-edit", "team_b1", "branch_admin"),
        ("branch-edit", "branch_b", "branch_admin"),
        ("branch-edit", "region", "branch_admin"),
    ],
)
def test_out_of_scope_object_is_404(client, p, request, name, target, who):
    response = as_user(client, persona(p, request, who)).get(url(p, name, target))
    assert response.status_code == 404


def test_out_of_scope_status_change_is_404_and_changes_nothing(client, p, branch_admin):
    response = as_user(client, branch_admin).post(
        url(p, "user-status", "agent3"), {"status": "suspended", "reason": "test"}
    )
    assert response.status_code == 404
    p.agent3.refresh_from_db()
    assert p.agent3.status == UserStatus.ACTIVE


@pytest.mark.parametrize(
    ("name", "target", "who"),
    [
        ("user-list", None, "agent"),
        ("user-detail", "agent", "agent"),
        ("user-detail", "agent", "lead"),
        ("user-detail", "agent3", "admin"),
        ("user-create", None, "admin"),
        ("user-edit", "agent", "branch_admin"),
        ("user-status", "agent", "admin"),
        ("user-roles", "agent", "admin"),
        ("user-password", "agent", "admin"),
        ("team-list", None, "lead"),
        ("team-detail", "team_a1", "lead"),
        ("team-create", None, "admin"),
        ("team-edit", "team_a1", "branch_admin"),
        ("branch-list", None, "manager"),
        ("branch-create", None, "admin"),
        ("branch-edit", "branch_a", "branch_admin"),
        ("role-list", None, "admin"),
        ("role-create", None, "admin"),
        ("lockout-list", None, "admin"),
        ("user-export", None, "agent"),
        ("team-export", None, "manager"),
    ],
)
def test_allowed_user_gets_200(client, p, request, name, target, who):
    response = as_user(client, persona(p, request, who)).get(url(p, name, target))
    assert response.status_code == 200


def test_admin_opens_role_edit(client, p):
    role = Role.objects.get(code="sales_agent")
    response = as_user(client, p.admin).get(reverse("org:role-edit", kwargs={"pk": role.pk}))
    assert response.status_code == 200
    assert b'data-testid="field-permissions"' in response.content


# --- users list, filters, HTMX, export ------------------------------------------------------------


def listed(response) -> set[str]:
    return {user.username for user in response.context["page_obj"].object_list}


def test_agent_sees_only_themself_in_the_user_list(client, p):
    response = as_user(client, p.agent).get(url(p, "user-list"))
    assert listed(response) == {"agent"}


def test_user_list_shows_masked_phones_only(client, p):
    response = as_user(client, p.admin).get(url(p, "user-list"))
    content = response.content.decode()
    assert p.agent.phone_masked in content
    for user in p.all_users():
        assert user.phone not in content


def test_user_list_filters_by_search_branch_team_status_and_role(client, p):
    as_user(client, p.admin)
    assert listed(client.get(url(p, "user-list"), {"q": "钱置业"})) == {"agent3"}
    assert listed(client.get(url(p, "user-list"), {"branch": p.branch_b.pk})) == {"agent3"}
    assert listed(client.get(url(p, "user-list"), {"team": p.team_a1.pk})) == {"agent", "lead"}
    assert listed(client.get(url(p, "user-list"), {"role": "sales_agent"})) == {"agent", "agent2", "agent3"}
    User.objects.filter(pk=p.cs.pk).update(status=UserStatus.SUSPENDED)
    assert listed(client.get(url(p, "user-list"), {"status": "suspended"})) == {"cs"}


def test_manager_cannot_filter_into_another_branch(client, p):
    response = as_user(client, p.manager).get(url(p, "user-list"), {"branch": p.branch_b.pk})
    assert "agent3" not in listed(response)


def test_user_list_htmx_request_gets_only_the_table(client, p):
    response = as_user(client, p.admin).get(url(p, "user-list"), {"q": "agent"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert response.templates[0].name == "org/partials/_user_rows.html"
    assert b"<html" not in response.content
    assert b'data-testid="user-row"' in response.content
    assert "HX-Request" in response["Vary"]


def test_user_list_query_count_does_not_grow_with_rows(client, p, django_assert_max_num_queries):
    as_user(client, p.admin)
    UserFactory.create_batch(5, branch=p.branch_a, team=p.team_a1, roles=["sales_agent"])
    with CaptureQueriesContext(connection) as few:
        assert client.get(url(p, "user-list")).status_code == 200
    UserFactory.create_batch(20, branch=p.branch_b, team=p.team_b1, roles=["sales_agent", "customer_service"])
    with django_assert_max_num_queries(len(few.captured_queries)):
        response = client.get(url(p, "user-list"))
    assert len(response.context["page_obj"].object_list) == 36


def test_user_export_is_masked_scoped_with_bom_and_audited(client, p):
    response = as_user(client, p.manager).get(url(p, "user-export"))
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    text = csv_text(response)
    assert text.startswith("\ufeff")
    assert p.agent.phone_masked in text
    for user in p.all_users():
        assert user.phone not in text
    assert "agent2" in text
    assert "agent3" not in text  # branch B is outside the manager's scope
    assert "admin" not in text
    event = AuditEvent.objects.get(action="org.user.exported")
    assert event.actor == p.manager
    assert event.after["rows"] == 7


def test_user_export_keeps_the_filters(client, p):
    text = csv_text(as_user(client, p.admin).get(url(p, "user-export"), {"team": p.team_a1.pk}))
    lines = [line for line in text.splitlines()[1:] if line]
    assert len(lines) == 2
    assert AuditEvent.objects.get(action="org.user.exported").after["filters"] == {"team_id": p.team_a1.pk}


def test_csv_cells_cannot_smuggle_formulas(client, p):
    User.objects.filter(pk=p.agent.pk).update(display_name="=HYPERLINK(1)")
    text = csv_text(as_user(client, p.admin).get(url(p, "user-export"), {"q": "agent"}))
    assert "'=HYPERLINK(1)" in text


# --- user detail ---------------------------------------------------------------------------------


def test_user_detail_shows_history_to_auditors_only(client, p):
    from anju.core import audit

    audit.record(actor=p.admin, action="org.user.updated", target=p.agent, after={"position": "经理"})
    as_user(client, p.auditor)
    response = client.get(url(p, "user-detail", "agent"))
    assert b"org.user.updated" in response.content
    assert b'data-testid="user-actions"' not in response.content
    response = as_user(client, p.manager).get(url(p, "user-detail", "agent"))
    assert b"org.user.updated" not in response.content


def test_user_detail_offers_admin_actions(client, p):
    response = as_user(client, p.admin).get(url(p, "user-detail", "agent"))
    content = response.content.decode()
    for testid in ("user-edit", "user-roles", "user-password", "user-status-suspended", "user-status-left"):
        assert f'data-testid="{testid}"' in content
    assert 'data-testid="user-status-active"' not in content


def test_admin_sees_no_status_actions_on_own_page(client, p):
    response = as_user(client, p.admin).get(url(p, "user-detail", "admin"))
    assert b"user-status-suspended" not in response.content


# --- user create / edit --------------------------------------------------------------------------


def create_data(p, **overrides):
    data = {
        "username": "newbie",
        "display_name": "新同事",
        "employee_no": "E90001",
        "phone": "13712345678",
        "email": "newbie@example.com",
        "position": "置业顾问",
        "branch": p.branch_a.pk,
        "team": p.team_a1.pk,
        "hire_date": "2026-03-01",
        "roles": [Role.objects.get(code="sales_agent").pk],
        "password": STRONG,
        "confirm": STRONG,
    }
    data.update(overrides)
    return data


def test_admin_creates_a_user(client, p):
    response = as_user(client, p.admin).post(url(p, "user-create"), create_data(p))
    user = User.objects.get(username="newbie")
    assert response.status_code == 302
    assert response["Location"] == reverse("org:user-detail", kwargs={"pk": user.pk})
    assert user.team == p.team_a1
    assert user.phone == "13712345678"
    assert user.has_role("sales_agent")
    assert user.check_password(STRONG)
    event = AuditEvent.objects.get(action="org.user.created", target_id=str(user.pk))
    assert event.actor == p.admin
    assert "13712345678" not in str(event.after)


def test_weak_password_is_refused_with_a_field_error_and_nothing_written(client, p):
    response = as_user(client, p.admin).post(
        url(p, "user-create"), create_data(p, password="12345678", confirm="12345678")
    )
    assert response.status_code == 200
    assert response.context["form"].errors["password"]
    assert not User.objects.filter(username="newbie").exists()
    assert not AuditEvent.objects.filter(action="org.user.created").exists()


def test_mismatched_passwords_are_refused(client, p):
    response = as_user(client, p.admin).post(url(p, "user-create"), create_data(p, confirm="something-else-1"))
    assert response.context["form"].errors["confirm"]
    assert not User.objects.filter(username="newbie").exists()


def test_service_refusal_lands_on_the_field(client, p):
    response = as_user(client, p.admin).post(url(p, "user-create"), create_data(p, team=p.team_b1.pk))
    assert response.status_code == 200
    assert response.context["form"].errors["team"]
    assert not User.objects.filter(username="newbie").exists()


def test_duplicate_username_is_a_field_error(client, p):
    response = as_user(client, p.admin).post(url(p, "user-create"), create_data(p, username="agent"))
    assert response.context["form"].errors["username"]
    assert User.objects.filter(username="agent").count() == 1


def test_branch_admin_cannot_place_a_user_outside_their_scope(client, p, branch_admin):
    response = as_user(client, branch_admin).post(
        url(p, "user-create"), create_data(p, branch=p.branch_b.pk, team=p.team_b1.pk)
    )
    assert response.status_code == 200
    assert response.context["form"].errors["branch"]
    assert not User.objects.filter(username="newbie").exists()


def test_admin_edits_a_user_and_an_empty_phone_keeps_the_number(client, p):
    data = {
        "display_name": "李金牌",
        "employee_no": p.agent.employee_no,
        "phone": "",
        "email": "",
        "position": "资深置业顾问",
        "branch": p.branch_a.pk,
        "team": p.team_a2.pk,
        "hire_date": "",
    }
    response = as_user(client, p.admin).post(url(p, "user-edit", "agent"), data)
    assert response.status_code == 302
    agent = User.objects.get(pk=p.agent.pk)
    assert (agent.display_name, agent.team, agent.position) == ("李金牌", p.team_a2, "资深置业顾问")
    assert agent.phone == p.agent.phone
    assert AuditEvent.objects.filter(action="org.user.updated", target_id=str(agent.pk)).exists()


def test_edit_form_never_shows_the_full_phone(client, p):
    response = as_user(client, p.admin).get(url(p, "user-edit", "agent"))
    assert p.agent.phone not in response.content.decode()
    assert p.agent.phone_masked in response.content.decode()


# --- status, sessions and tokens -------------------------------------------------------------------


def test_suspension_ends_the_users_sessions_and_tokens_at_once(client, p):
    token, raw = auth_services.token_create(actor=p.agent, name="CRM sync")
    other = Client()
    other.force_login(p.agent)
    assert other.get(url(p, "user-list")).status_code == 200
    assert UserSession.objects.filter(user=p.agent).exists()

    response = as_user(client, p.admin).post(
        url(p, "user-status", "agent"), {"status": "suspended", "reason": "调查期间暂停"}
    )

    assert response.status_code == 302
    after = other.get(url(p, "user-list"))
    assert after.status_code == 302
    assert after["Location"].startswith(reverse("login"))
    assert not UserSession.objects.filter(user=p.agent).exists()
    assert not Session.objects.filter(session_key=other.session.session_key).exists()
    token.refresh_from_db()
    assert token.revoked_at is not None
    assert auth_services.token_authenticate(raw) is None
    agent = User.objects.get(pk=p.agent.pk)
    assert (agent.status, agent.is_active) == (UserStatus.SUSPENDED, False)
    event = AuditEvent.objects.get(action="org.user.suspended", target_id=str(agent.pk))
    assert event.reason == "调查期间暂停"


def test_status_change_needs_a_reason(client, p):
    response = as_user(client, p.admin).post(url(p, "user-status", "agent"), {"status": "suspended", "reason": ""})
    assert response.status_code == 200
    assert response.context["form"].errors["reason"]
    p.agent.refresh_from_db()
    assert p.agent.status == UserStatus.ACTIVE


def test_admin_cannot_suspend_themself(client, p):
    response = as_user(client, p.admin).post(url(p, "user-status", "admin"), {"status": "suspended", "reason": "测试"})
    assert response.status_code == 200
    assert response.context["form"].non_field_errors()
    p.admin.refresh_from_db()
    assert p.admin.status == UserStatus.ACTIVE


def test_reactivation_lets_a_suspended_user_in_again(client, p):
    as_user(client, p.admin)
    client.post(url(p, "user-status", "agent"), {"status": "suspended", "reason": "休假"})
    client.post(url(p, "user-status", "agent"), {"status": "active", "reason": "返岗"})
    agent = User.objects.get(pk=p.agent.pk)
    assert (agent.status, agent.is_active) == (UserStatus.ACTIVE, True)
    assert Client().post(reverse("login"), {"username": "agent", "password": PASSWORD}).status_code == 302


def test_a_user_who_left_cannot_be_reactivated(client, p):
    as_user(client, p.admin)
    client.post(url(p, "user-status", "agent"), {"status": "left", "reason": "离职"})
    response = client.post(url(p, "user-status", "agent"), {"status": "active", "reason": "返聘"})
    assert response.status_code == 200
    assert response.context["form"].errors["status"]
    assert User.objects.get(pk=p.agent.pk).status == UserStatus.LEFT


# --- roles of a user, password reset ----------------------------------------------------------------


def test_role_assignment_changes_permissions(client, p):
    agent_client = as_user(Client(), p.agent)
    assert agent_client.get(url(p, "branch-list")).status_code == 403

    auditor = Role.objects.get(code="auditor")
    sales = Role.objects.get(code="sales_agent")
    response = as_user(client, p.admin).post(url(p, "user-roles", "agent"), {"roles": [sales.pk, auditor.pk]})

    assert response.status_code == 302
    assert agent_client.get(url(p, "branch-list")).status_code == 200
    event = AuditEvent.objects.get(action="org.user.roles_changed", target_id=str(p.agent.pk))
    assert event.after == {"roles": ["auditor", "sales_agent"]}


def test_removing_every_role_leaves_the_user_seeing_nothing(client, p):
    as_user(client, p.admin).post(url(p, "user-roles", "agent"), {})
    agent_client = as_user(Client(), p.agent)
    assert agent_client.get(url(p, "user-list")).status_code == 403


def test_admin_cannot_drop_their_own_administrator_role(client, p):
    response = as_user(client, p.admin).post(url(p, "user-roles", "admin"), {})
    assert response.status_code == 200
    assert response.context["form"].non_field_errors()
    assert User.objects.get(pk=p.admin.pk).has_role("administrator")


def test_password_reset_changes_the_password_and_ends_sessions(client, p):
    other = as_user(Client(), p.agent)
    response = as_user(client, p.admin).post(
        url(p, "user-password", "agent"), {"new_password": STRONG, "confirm": STRONG}
    )
    assert response.status_code == 302
    agent = User.objects.get(pk=p.agent.pk)
    assert agent.check_password(STRONG)
    assert not agent.check_password(PASSWORD)
    assert other.get(url(p, "user-list")).status_code == 302
    assert AuditEvent.objects.filter(action="org.user.password_reset", target_id=str(agent.pk)).exists()


def test_weak_reset_password_is_refused(client, p):
    response = as_user(client, p.admin).post(
        url(p, "user-password", "agent"), {"new_password": "password123", "confirm": "password123"}
    )
    assert response.status_code == 200
    assert response.context["form"].errors["new_password"]
    assert User.objects.get(pk=p.agent.pk).check_password(PASSWORD)


def test_admin_resetting_own_password_goes_to_the_account_page(client, p):
    response = as_user(client, p.admin).get(url(p, "user-password", "admin"))
    assert response.status_code == 302
    assert response["Location"] == reverse("password-change")


# --- teams -------------------------------------------------------------------------------------------


def test_team_list_is_scoped(client, p):
    response = as_user(client, p.manager).get(url(p, "team-list"))
    assert {team.name for team in response.context["page_obj"]} == {"滨江一组", "滨江二组"}
    response = as_user(client, p.agent).get(url(p, "team-list"))
    assert list(response.context["page_obj"]) == []


def test_team_detail_lists_members(client, p):
    response = as_user(client, p.lead).get(url(p, "team-detail", "team_a1"))
    assert {user.username for user in response.context["members"]} == {"agent", "lead"}
    assert "李置业" in response.content.decode()


def test_admin_creates_and_edits_a_team(client, p):
    as_user(client, p.admin)
    response = client.post(url(p, "team-create"), {"branch": p.branch_b.pk, "name": "西湖二组", "lead": p.agent3.pk})
    team = Team.objects.get(name="西湖二组")
    assert response.status_code == 302
    assert team.lead == p.agent3
    assert AuditEvent.objects.filter(action="org.team.created", target_id=str(team.pk)).exists()

    response = client.post(
        reverse("org:team-edit", kwargs={"pk": team.pk}), {"name": "西湖精英组", "lead": "", "is_active": "on"}
    )
    assert response.status_code == 302
    team.refresh_from_db()
    assert (team.name, team.lead) == ("西湖精英组", None)


def test_team_lead_from_another_branch_is_refused(client, p):
    response = as_user(client, p.admin).post(
        url(p, "team-edit", "team_a1"), {"name": "滨江一组", "lead": p.agent3.pk, "is_active": "on"}
    )
    assert response.status_code == 200
    assert response.context["form"].errors["lead"]
    p.team_a1.refresh_from_db()
    assert p.team_a1.lead == p.lead


def test_closing_a_team_with_active_members_is_refused(client, p):
    response = as_user(client, p.admin).post(url(p, "team-edit", "team_a1"), {"name": "滨江一组", "lead": p.lead.pk})
    assert response.status_code == 200
    assert response.context["form"].non_field_errors()
    assert Team.objects.get(pk=p.team_a1.pk).is_active


def test_team_export_is_scoped_and_audited(client, p):
    text = csv_text(as_user(client, p.manager).get(url(p, "team-export")))
    assert text.startswith("\ufeff")
    assert "滨江一组" in text
    assert "西湖一组" not in text
    assert AuditEvent.objects.filter(action="org.team.exported", actor=p.manager).exists()


# --- branches ------------------------------------------------------------------------------------------


def test_branch_list_is_a_tree_indented_by_depth(client, p):
    response = as_user(client, p.admin).get(url(p, "branch-list"))
    rows = [(branch.code, level) for branch, level in response.context["rows"]]
    assert rows == [("R-EAST", 0), ("A-BINJIANG", 1), ("B-XIHU", 1)]
    response = as_user(client, p.manager).get(url(p, "branch-list"))
    assert [(branch.code, level) for branch, level in response.context["rows"]] == [("A-BINJIANG", 0)]


def test_admin_creates_a_top_level_branch_in_the_company(client, p):
    response = as_user(client, p.admin).post(
        url(p, "branch-create"), {"parent": "", "name": "华南区域", "code": "R-SOUTH", "kind": "region"}
    )
    assert response.status_code == 302
    branch = Branch.objects.get(code="R-SOUTH")
    assert (branch.company, branch.parent, branch.path) == (p.company, None, f"/{branch.pk}/")
    assert AuditEvent.objects.filter(action="org.branch.created", target_id=str(branch.pk)).exists()


def test_branch_admin_adds_a_child_of_their_branch_but_not_elsewhere(client, p, branch_admin):
    as_user(client, branch_admin)
    response = client.post(
        url(p, "branch-create"), {"parent": p.branch_b.pk, "name": "X", "code": "X-1", "kind": "store"}
    )
    assert response.context["form"].errors["parent"]
    response = client.post(url(p, "branch-create"), {"parent": "", "name": "X", "code": "X-1", "kind": "store"})
    assert response.context["form"].errors["parent"]
    response = client.post(
        url(p, "branch-create"), {"parent": p.branch_a.pk, "name": "滨江二期", "code": "A-2", "kind": "sales_office"}
    )
    assert response.status_code == 302
    assert Branch.objects.get(code="A-2").path.startswith(p.branch_a.path)


def test_admin_moves_a_branch_and_its_path_follows(client, p):
    data = {
        "parent": p.branch_a.pk,
        "name": "西湖门店",
        "code": "B-XIHU",
        "kind": "store",
        "address": "",
        "is_active": "on",
    }
    response = as_user(client, p.admin).post(url(p, "branch-edit", "branch_b"), data)
    assert response.status_code == 302
    assert Branch.objects.get(pk=p.branch_b.pk).path == f"{p.branch_a.path}{p.branch_b.pk}/"


def test_a_branch_cannot_go_under_itself(client, p):
    data = {"parent": p.branch_a.pk, "name": "华东区域", "code": "R-EAST", "kind": "region", "is_active": "on"}
    response = as_user(client, p.admin).post(url(p, "branch-edit", "region"), data)
    assert response.status_code == 200
    assert response.context["form"].errors["parent"]


# --- roles ---------------------------------------------------------------------------------------------


def test_role_form_groups_permissions_by_app(client, p):
    response = as_user(client, p.admin).get(url(p, "role-create"))
    groups = dict(response.context["form"].permission_groups())
    assert len(groups) >= 2  # core and org at least
    assert all(boxes for boxes in groups.values())
    offered = response.context["form"].fields["permissions"].queryset
    assert not offered.filter(content_type__app_label__in=["axes", "sessions", "admin", "auth"]).exists()


def test_admin_creates_and_edits_a_role(client, p):
    view_user = Permission.objects.get(content_type__app_label="org", codename="view_user")
    view_team = Permission.objects.get(content_type__app_label="org", codename="view_team")
    as_user(client, p.admin)
    response = client.post(
        url(p, "role-create"),
        {"code": "trainee", "name": "实习生", "description": "", "data_scope": "own", "permissions": [view_user.pk]},
    )
    assert response.status_code == 302
    role = Role.objects.get(code="trainee")
    assert list(role.permissions.all()) == [view_user]
    assert AuditEvent.objects.filter(action="org.role.created", target_id=str(role.pk)).exists()

    response = client.post(
        reverse("org:role-edit", kwargs={"pk": role.pk}),
        {
            "code": "ignored",
            "name": "实习顾问",
            "description": "三个月",
            "data_scope": "team",
            "permissions": [view_user.pk, view_team.pk],
        },
    )
    assert response.status_code == 302
    role.refresh_from_db()
    assert (role.code, role.name, role.data_scope) == ("trainee", "实习顾问", "team")
    assert set(role.permissions.all()) == {view_user, view_team}


def test_role_code_is_validated(client, p):
    response = as_user(client, p.admin).post(
        url(p, "role-create"), {"code": "Bad Code", "name": "x", "data_scope": "own"}
    )
    assert response.status_code == 200
    assert response.context["form"].errors["code"]
    assert not Role.objects.filter(name="x").exists()


def test_role_edit_keeps_permissions_the_form_does_not_offer(client, p):
    role = Role.objects.get(code="auditor")
    foreign = Permission.objects.get(content_type__app_label="axes", codename="view_accessattempt")
    role.permissions.add(foreign)
    data = {
        "name": role.name,
        "description": role.description,
        "data_scope": role.data_scope,
        "permissions": [perm.pk for perm in role.permissions.exclude(pk=foreign.pk)],
    }
    as_user(client, p.admin).post(reverse("org:role-edit", kwargs={"pk": role.pk}), data)
    assert role.permissions.filter(pk=foreign.pk).exists()


# --- login lockouts ---------------------------------------------------------------------------------------


def lock_out(username: str) -> Client:
    browser = Client(REMOTE_ADDR="10.1.2.3")
    for _attempt in range(5):
        browser.post(reverse("login"), {"username": username, "password": "wrong-password"})
    return browser


def test_lockout_list_shows_locked_logins(client, p):
    lock_out("agent")
    response = as_user(client, p.admin).get(url(p, "lockout-list"))
    [attempt] = list(response.context["page_obj"])
    assert (attempt.username, attempt.ip_address, attempt.locked) == ("agent", "10.1.2.3", True)
    assert b'data-testid="lockout-unlock"' in response.content


def test_unlock_clears_the_lockout_and_the_user_can_log_in(client, p):
    browser = lock_out("agent")
    assert browser.post(reverse("login"), {"username": "agent", "password": PASSWORD}).status_code == 429

    response = as_user(client, p.admin).post(url(p, "lockout-unlock"), {"username": "agent", "ip_address": "10.1.2.3"})

    assert response.status_code == 302
    assert not AccessAttempt.objects.filter(username="agent").exists()
    assert AuditEvent.objects.filter(action="org.login.unlocked", actor=p.admin).exists()
    assert browser.post(reverse("login"), {"username": "agent", "password": PASSWORD}).status_code == 302


def test_unlock_is_post_only(client, p):
    assert as_user(client, p.admin).get(url(p, "lockout-unlock")).status_code == 405


# --- account pages -----------------------------------------------------------------------------------------


def test_account_pages_need_login(client):
    for name in ("password-change", "account-tokens"):
        response = client.get(reverse(name))
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("login"))


def test_user_changes_own_password_and_stays_logged_in(client, p):
    as_user(client, p.agent)
    assert client.get(reverse("password-change")).status_code == 200
    response = client.post(
        reverse("password-change"), {"old_password": PASSWORD, "new_password": STRONG, "confirm": STRONG}
    )
    assert response.status_code == 302
    assert User.objects.get(pk=p.agent.pk).check_password(STRONG)
    assert client.get(url(p, "user-list")).status_code == 200


def test_wrong_current_password_is_a_field_error(client, p):
    response = as_user(client, p.agent).post(
        reverse("password-change"), {"old_password": "nope", "new_password": STRONG, "confirm": STRONG}
    )
    assert response.status_code == 200
    assert response.context["form"].errors["old_password"]
    assert b"invalid-feedback" in response.content


def test_token_page_shows_the_secret_once_and_revokes(client, p):
    as_user(client, p.agent)
    response = client.post(reverse("account-tokens"), {"name": "CRM sync"})
    secret = response.context["new_secret"]
    assert secret.encode() in response.content
    token = ApiToken.objects.get(user=p.agent)
    assert secret.encode() not in client.get(reverse("account-tokens")).content

    response = client.post(reverse("account-token-revoke", kwargs={"pk": token.pk}))
    assert response.status_code == 302
    token.refresh_from_db()
    assert token.revoked_at is not None
    assert b"token-revoke" not in client.get(reverse("account-tokens")).content
