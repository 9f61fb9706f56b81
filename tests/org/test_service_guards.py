"""Services guard scope and rights themselves, so an API or command cannot bypass the pages."""

import pytest
from django.contrib.auth.models import Permission
from django.test import Client

from anju.core.errors import ApplicationError, PermissionDeniedError
from anju.org.models import Role, User, UserSession
from anju.org.services import branches, teams, users
from anju.testing import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def branch_user_admin(p):
    """A user administrator of branch A only: a team lead's rights plus manage_users, branch scope."""
    role = Role.objects.create(code="branch_user_admin", name="Branch user admin", data_scope="branch")
    lead_permissions = Role.objects.get(code="team_lead").permissions.all()
    role.permissions.set([*lead_permissions, Permission.objects.get(codename="manage_users")])
    return UserFactory(username="badmin", branch=p.branch_a, roles=["branch_user_admin"])


def test_branch_user_admin_cannot_create_a_company_wide_administrator(p, branch_user_admin):
    admin_role = Role.objects.get(code="administrator")
    with pytest.raises(PermissionDeniedError) as refused:
        users.user_create(
            actor=branch_user_admin,
            username="newadmin",
            display_name="新管理员",
            password="a-Strong-passw0rd",
            branch=p.branch_a,
            roles=[admin_role],
        )
    assert refused.value.code == "user.role_not_grantable"
    assert not User.objects.filter(username="newadmin").exists()


def test_branch_user_admin_cannot_promote_an_agent(p, branch_user_admin):
    with pytest.raises(PermissionDeniedError):
        users.user_assign_roles(actor=branch_user_admin, user=p.agent, roles=[Role.objects.get(code="branch_manager")])
    assert list(p.agent.roles.values_list("code", flat=True)) == ["sales_agent"]


def test_branch_user_admin_may_grant_a_weaker_role(p, branch_user_admin):
    users.user_assign_roles(
        actor=branch_user_admin,
        user=p.agent2,
        roles=[Role.objects.get(code="sales_agent"), Role.objects.get(code="team_lead")],
    )
    assert set(p.agent2.roles.values_list("code", flat=True)) == {"sales_agent", "team_lead"}


def test_services_refuse_records_outside_the_actor_scope(p, branch_user_admin):
    with pytest.raises(ApplicationError) as refused:
        users.user_update(actor=branch_user_admin, user=p.agent3, display_name="改名")
    assert refused.value.status == 404
    with pytest.raises(ApplicationError):
        users.user_set_status(actor=branch_user_admin, user=p.agent3, status="suspended", reason="test")
    with pytest.raises(ApplicationError):
        users.user_update(actor=branch_user_admin, user=p.agent, team=p.team_b1)
    with pytest.raises(ApplicationError):
        teams.team_create(actor=branch_user_admin, branch=p.branch_b, name="越权组")
    p.agent3.refresh_from_db()
    assert p.agent3.display_name == "钱置业" and p.agent3.status == "active"


def test_only_company_wide_admins_add_top_level_branches(p, branch_user_admin):
    with pytest.raises(PermissionDeniedError):
        branches.branch_create(
            actor=branch_user_admin, company=p.company, name="华南区域", code="R-SOUTH", kind="region"
        )
    branch = branches.branch_create(actor=p.admin, company=p.company, name="华南区域", code="R-SOUTH", kind="region")
    assert branch.path == f"/{branch.pk}/"


def test_session_after_own_password_change_still_ends_on_suspension(p):
    browser = Client()
    browser.post("/login/", {"username": "agent", "password": PASSWORD})
    response = browser.post(
        "/account/password/",
        {"old_password": PASSWORD, "new_password": "Another-passw0rd-26", "confirm": "Another-passw0rd-26"},
    )
    assert response.status_code == 302
    assert UserSession.objects.filter(user=p.agent, session_key=browser.session.session_key).exists()
    assert browser.get("/").status_code == 200

    users.user_set_status(actor=p.admin, user=p.agent, status="suspended", reason="离职调查")
    users.user_set_status(actor=p.admin, user=p.agent, status="active", reason="调查结束")
    assert browser.get("/").status_code == 302  # the old session did not come back with reactivation
