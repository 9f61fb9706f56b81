"""Writes for the organisation (R1.1.1–R1.1.3): guards, audit rows, and all-or-nothing."""

import datetime as dt

import pytest
from django.contrib.auth.models import Permission
from django.db import connection

from anju.core import audit
from anju.core.errors import Conflict, PermissionDeniedError, ValidationFailed
from anju.core.models import AuditEvent
from anju.org.choices import BranchKind, UserStatus
from anju.org.models import ApiToken, Branch, Role, Team, User
from anju.org.services import auth as auth_services
from anju.org.services import branches, roles, teams, users
from anju.testing import PASSWORD

pytestmark = pytest.mark.django_db

NEW_PHONE = "13812345678"


def events(action: str):
    return AuditEvent.objects.filter(action=action)


def new_user(p, **overrides):
    values = {
        "actor": p.admin,
        "username": "newhire",
        "display_name": "林新人",
        "password": "Binjiang-Welcome-26",
        "branch": p.branch_a,
        "team": p.team_a1,
        "roles": [Role.objects.get(code="sales_agent")],
        "employee_no": "E90001",
        "phone": NEW_PHONE,
        "email": "lin@example.com",
        "position": "置业顾问",
        "hire_date": dt.date(2026, 3, 1),
    }
    values.update(overrides)
    return users.user_create(**values)


# --- branches ----------------------------------------------------------------------------------


def test_branch_create_places_the_branch_in_the_tree(p):
    branch = branches.branch_create(
        actor=p.admin,
        company=p.company,
        parent=p.region,
        name="钱塘案场",
        code="C-QIANTANG",
        kind=BranchKind.SALES_OFFICE,
        address="杭州市钱塘区",
    )
    assert branch.path == f"{p.region.path}{branch.pk}/"
    event = events("org.branch.created").get()
    assert event.actor == p.admin
    assert event.target_id == str(branch.pk)
    assert event.after["code"] == "C-QIANTANG"
    assert event.after["parent"] == p.region.pk


def test_branch_create_refuses_a_duplicate_code_with_a_field_error(p):
    with pytest.raises(ValidationFailed) as exc:
        branches.branch_create(
            actor=p.admin, company=p.company, parent=p.region, name="另一个", code="A-BINJIANG", kind=BranchKind.STORE
        )
    assert "code" in exc.value.fields
    assert not events("org.branch.created").exists()


def test_moving_a_branch_re_roots_its_whole_subtree(p):
    sub = branches.branch_create(
        actor=p.admin, company=p.company, parent=p.branch_b, name="西湖二店", code="B-XIHU-2", kind=BranchKind.STORE
    )
    deeper = branches.branch_create(
        actor=p.admin, company=p.company, parent=sub, name="西湖二店驻点", code="B-XIHU-2-1", kind=BranchKind.STORE
    )

    branches.branch_update(actor=p.admin, branch=p.branch_b, parent=p.branch_a)

    p.branch_b.refresh_from_db()
    sub.refresh_from_db()
    deeper.refresh_from_db()
    assert p.branch_b.path == f"{p.branch_a.path}{p.branch_b.pk}/"
    assert sub.path == f"{p.branch_b.path}{sub.pk}/"
    assert deeper.path == f"{sub.path}{deeper.pk}/"
    # The branch manager of A now sees B's staff (scope follows the tree).
    assert User.objects.visible_to(p.manager).filter(pk=p.agent3.pk).exists()
    event = events("org.branch.updated").get()
    assert event.before == {"parent": p.region.pk}
    assert event.after == {"parent": p.branch_a.pk}


def test_moving_uses_the_stored_parent_not_a_stale_copy(p):
    stale_a = Branch.objects.get(pk=p.branch_a.pk)
    branches.branch_update(actor=p.admin, branch=p.branch_a, parent=p.branch_b)  # A is now below B
    extra = branches.branch_create(
        actor=p.admin,
        company=p.company,
        parent=p.region,
        name="临平案场",
        code="C-LINPING",
        kind=BranchKind.SALES_OFFICE,
    )
    branches.branch_update(actor=p.admin, branch=extra, parent=stale_a)
    extra.refresh_from_db()
    p.branch_a.refresh_from_db()
    assert extra.path == f"{p.branch_a.path}{extra.pk}/"
    # … and a stale copy cannot sneak a cycle in either: B under (stale) A, which is below B.
    with pytest.raises(ValidationFailed) as exc:
        branches.branch_update(actor=p.admin, branch=p.branch_b, parent=stale_a)
    assert exc.value.code == "branch.parent_cycle"


@pytest.mark.parametrize("target", ["itself", "child", "grandchild"])
def test_a_branch_cannot_be_placed_under_itself(p, target):
    child = branches.branch_create(
        actor=p.admin, company=p.company, parent=p.branch_b, name="子店", code="B-SUB", kind=BranchKind.STORE
    )
    grandchild = branches.branch_create(
        actor=p.admin, company=p.company, parent=child, name="孙店", code="B-SUB-SUB", kind=BranchKind.STORE
    )
    parent = {"itself": p.branch_b, "child": child, "grandchild": grandchild}[target]
    with pytest.raises(ValidationFailed) as exc:
        branches.branch_update(actor=p.admin, branch=p.branch_b, parent=parent)
    assert exc.value.code == "branch.parent_cycle"
    assert "parent" in exc.value.fields
    p.branch_b.refresh_from_db()
    assert p.branch_b.parent_id == p.region.pk
    assert not events("org.branch.updated").exists()


def test_closing_a_branch_with_active_staff_is_refused(p):
    with pytest.raises(Conflict) as exc:
        branches.branch_update(actor=p.admin, branch=p.branch_b, is_active=False)
    assert exc.value.code == "branch.in_use"
    p.branch_b.refresh_from_db()
    assert p.branch_b.is_active


def test_closing_a_branch_with_an_active_sub_branch_is_refused(p):
    users.user_set_status(actor=p.admin, user=p.agent3, status="left", reason="离职")
    branches.branch_create(
        actor=p.admin, company=p.company, parent=p.branch_b, name="子店", code="B-SUB", kind=BranchKind.STORE
    )
    with pytest.raises(Conflict):
        branches.branch_update(actor=p.admin, branch=p.branch_b, is_active=False)


def test_closing_a_branch_whose_staff_left_works(p):
    users.user_set_status(actor=p.admin, user=p.agent3, status="left", reason="离职")
    branch = branches.branch_update(actor=p.admin, branch=p.branch_b, is_active=False)
    assert branch.is_active is False
    event = events("org.branch.updated").get()
    assert event.before == {"is_active": True} and event.after == {"is_active": False}


# --- teams -------------------------------------------------------------------------------------


def test_team_create_with_a_lead_of_the_branch(p):
    team = teams.team_create(actor=p.admin, branch=p.branch_a, name="滨江三组", lead=p.agent2)
    assert team.lead == p.agent2
    assert events("org.team.created").get().after["lead"] == p.agent2.pk


def test_team_lead_must_be_in_the_branch(p):
    with pytest.raises(ValidationFailed) as exc:
        teams.team_create(actor=p.admin, branch=p.branch_a, name="滨江三组", lead=p.agent3)
    assert exc.value.code == "team.lead_branch"
    assert "lead" in exc.value.fields
    assert not Team.objects.filter(name="滨江三组").exists()
    assert not events("org.team.created").exists()


def test_team_lead_check_uses_the_stored_branch(p):
    stale_agent2 = User.objects.get(pk=p.agent2.pk)
    users.user_update(actor=p.admin, user=p.agent2, branch=p.branch_b, team=p.team_b1)
    with pytest.raises(ValidationFailed):
        teams.team_create(actor=p.admin, branch=p.branch_a, name="滨江三组", lead=stale_agent2)


def test_closing_a_team_with_active_members_is_refused(p):
    with pytest.raises(Conflict) as exc:
        teams.team_update(actor=p.admin, team=p.team_a2, is_active=False)
    assert exc.value.code == "team.in_use"


# --- users -------------------------------------------------------------------------------------


def test_user_create_writes_the_user_and_a_masked_audit_event(p):
    user = new_user(p)
    user.refresh_from_db()
    assert user.check_password("Binjiang-Welcome-26")
    assert user.phone == NEW_PHONE
    assert user.phone_index == users.phone_index(NEW_PHONE)
    assert sorted(user.roles.values_list("code", flat=True)) == ["sales_agent"]

    event = events("org.user.created").get()
    assert event.actor == p.admin
    assert event.target_id == str(user.pk)
    assert event.after["phone"] == "138****5678"
    assert event.after["username"] == "newhire"
    assert event.after["team"] == p.team_a1.pk
    assert "password" not in event.after
    assert NEW_PHONE not in str(event.after) + str(event.before) + event.target_repr
    assert audit.verify().ok


def test_user_phone_is_encrypted_at_rest(p):
    user = new_user(p)
    with connection.cursor() as cursor:
        cursor.execute("SELECT phone FROM org_user WHERE id = %s", [user.pk])
        (stored,) = cursor.fetchone()
    assert NEW_PHONE not in stored


def test_user_create_refuses_a_team_of_another_branch(p):
    before = (User.objects.count(), AuditEvent.objects.count())
    with pytest.raises(ValidationFailed) as exc:
        new_user(p, team=p.team_b1)
    assert exc.value.code == "user.team_branch"
    assert "team" in exc.value.fields
    assert (User.objects.count(), AuditEvent.objects.count()) == before


def test_user_create_refuses_a_duplicate_username_and_writes_nothing(p):
    before = (User.objects.count(), AuditEvent.objects.count())
    with pytest.raises(ValidationFailed) as exc:
        new_user(p, username="agent", employee_no="E90002")
    assert "username" in exc.value.fields
    assert (User.objects.count(), AuditEvent.objects.count()) == before
    assert User.objects.get(username="agent") == p.agent


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"password": "Bj7#kq2Lm"}, "password"),
        ({"password": "qwertyuiop"}, "password"),
        ({"phone": "1234"}, "phone"),
        ({"employee_no": "<agent's>"}, "employee_no"),
    ],
)
def test_user_create_refuses_bad_input_with_a_field_error(p, overrides, field):
    if overrides.get("employee_no") == "<agent's>":
        overrides = {"employee_no": p.agent.employee_no}
    before = (User.objects.count(), AuditEvent.objects.count())
    with pytest.raises(ValidationFailed) as exc:
        new_user(p, **overrides)
    assert field in exc.value.fields
    assert (User.objects.count(), AuditEvent.objects.count()) == before


def test_user_update_audits_only_the_changes(p):
    users.user_update(
        actor=p.admin, user=p.agent, display_name="李置业（高级）", phone="13912340000", position="置业顾问"
    )
    event = events("org.user.updated").get()
    assert set(event.after) == {"display_name", "phone"}
    assert event.before["display_name"] == "李置业"
    assert event.after["display_name"] == "李置业（高级）"
    assert event.after["phone"] == "139****0000"
    assert event.before["phone"] == p.agent.phone_masked
    assert p.agent.phone not in str(event.before)
    p.agent.refresh_from_db()
    assert p.agent.phone_index == users.phone_index("13912340000")


def test_user_update_without_changes_writes_no_event(p):
    users.user_update(actor=p.admin, user=p.agent, display_name="李置业")
    assert not events("org.user.updated").exists()


def test_user_update_refuses_a_team_of_another_branch(p):
    with pytest.raises(ValidationFailed):
        users.user_update(actor=p.admin, user=p.agent, team=p.team_b1)
    p.agent.refresh_from_db()
    assert p.agent.team == p.team_a1


def test_user_update_moves_an_employee_between_branches(p):
    users.user_update(actor=p.admin, user=p.agent, branch=p.branch_b, team=p.team_b1)
    event = events("org.user.updated").get()
    assert event.after == {"branch": p.branch_b.pk, "team": p.team_b1.pk}


# --- status -----------------------------------------------------------------------------------


def test_status_transitions_suspend_reactivate_and_leave(p):
    user = users.user_set_status(actor=p.admin, user=p.agent, status="suspended", reason="调查")
    assert (user.status, user.is_active) == (UserStatus.SUSPENDED, False)
    user = users.user_set_status(actor=p.admin, user=p.agent, status="active", reason="调查结束")
    assert (user.status, user.is_active) == (UserStatus.ACTIVE, True)
    user = users.user_set_status(actor=p.admin, user=p.agent, status="left", reason="离职")
    assert (user.status, user.is_active) == (UserStatus.LEFT, False)
    assert [e.action for e in AuditEvent.objects.filter(action__startswith="org.user.").order_by("seq")] == [
        "org.user.suspended",
        "org.user.active",
        "org.user.left",
    ]
    suspended = events("org.user.suspended").get()
    assert suspended.reason == "调查"
    assert suspended.before == {"status": "active"} and suspended.after == {"status": "suspended"}


def test_left_to_active_is_refused_naming_both_states(p):
    users.user_set_status(actor=p.admin, user=p.agent, status="left", reason="离职")
    with pytest.raises(Conflict) as exc:
        users.user_set_status(actor=p.admin, user=p.agent, status="active", reason="回来了")
    assert exc.value.code == "user.bad_status_change"
    message = str(exc.value.message)
    assert str(UserStatus.LEFT.label) in message
    assert str(UserStatus.ACTIVE.label) in message
    p.agent.refresh_from_db()
    assert p.agent.status == UserStatus.LEFT and not p.agent.is_active


def test_same_status_is_refused(p):
    with pytest.raises(Conflict):
        users.user_set_status(actor=p.admin, user=p.agent, status="active", reason="无需变更")


@pytest.mark.parametrize("reason", ["", "   "])
def test_status_change_needs_a_reason(p, reason):
    with pytest.raises(ValidationFailed) as exc:
        users.user_set_status(actor=p.admin, user=p.agent, status="suspended", reason=reason)
    assert "reason" in exc.value.fields
    p.agent.refresh_from_db()
    assert p.agent.status == UserStatus.ACTIVE


def test_unknown_status_is_a_validation_error(p):
    with pytest.raises(ValidationFailed) as exc:
        users.user_set_status(actor=p.admin, user=p.agent, status="retired", reason="测试")
    assert "status" in exc.value.fields


def test_nobody_changes_their_own_status(p):
    with pytest.raises(Conflict) as exc:
        users.user_set_status(actor=p.admin, user=p.admin, status="suspended", reason="测试")
    assert exc.value.code == "user.self_status"
    p.admin.refresh_from_db()
    assert p.admin.is_active


def test_suspension_revokes_tokens(p):
    token, _raw = auth_services.token_create(actor=p.agent, name="crm")
    users.user_set_status(actor=p.admin, user=p.agent, status="suspended", reason="违规")
    token.refresh_from_db()
    assert token.revoked_at is not None


# --- roles ------------------------------------------------------------------------------------


def test_assigning_roles_is_audited_by_code(p):
    new_roles = list(Role.objects.filter(code__in=["sales_agent", "team_lead"]))
    users.user_assign_roles(actor=p.admin, user=p.agent, roles=new_roles)
    event = events("org.user.roles_changed").get()
    assert event.before == {"roles": ["sales_agent"]}
    assert event.after == {"roles": ["sales_agent", "team_lead"]}
    users.user_assign_roles(actor=p.admin, user=p.agent, roles=new_roles)  # no change, no event
    assert events("org.user.roles_changed").count() == 1


def test_an_administrator_cannot_remove_their_own_administrator_role(p):
    with pytest.raises(Conflict) as exc:
        users.user_assign_roles(actor=p.admin, user=p.admin, roles=[Role.objects.get(code="auditor")])
    assert exc.value.code == "user.self_admin"
    assert p.admin.has_role("administrator")
    assert sorted(p.admin.roles.values_list("code", flat=True)) == ["administrator"]


def test_another_administrator_may_remove_the_role(p):
    from anju.testing import UserFactory

    second = UserFactory(username="admin2", branch=p.region, roles=["administrator"])
    users.user_assign_roles(actor=second, user=p.admin, roles=[Role.objects.get(code="auditor")])
    assert sorted(p.admin.roles.values_list("code", flat=True)) == ["auditor"]


def test_role_update_is_audited_with_the_permission_diff(p):
    role = Role.objects.get(code="legal")
    view_branch = Permission.objects.get(content_type__app_label="org", codename="view_branch")
    roles.role_update(
        actor=p.admin,
        role=role,
        name=role.name,
        description=role.description,
        data_scope="branch",
        permissions=[*role.permissions.all(), view_branch],
    )
    event = events("org.role.updated").get()
    assert set(event.after) == {"permissions"}
    assert "org.view_branch" not in event.before["permissions"]
    assert "org.view_branch" in event.after["permissions"]
    assert p.legal.has_perm("org.view_branch")


def test_role_update_changes_the_scope(p):
    role = Role.objects.get(code="sales_agent")
    roles.role_update(
        actor=p.admin,
        role=role,
        name=role.name,
        description=role.description,
        data_scope="team",
        permissions=list(role.permissions.all()),
    )
    event = events("org.role.updated").get()
    assert event.before == {"data_scope": "own"} and event.after == {"data_scope": "team"}
    agent = User.objects.get(pk=p.agent.pk)
    assert set(User.objects.visible_to(agent).values_list("username", flat=True)) == {"agent", "lead"}


def test_role_update_refuses_an_unknown_scope(p):
    role = Role.objects.get(code="sales_agent")
    with pytest.raises(ValidationFailed):
        roles.role_update(actor=p.admin, role=role, name=role.name, description="", data_scope="galaxy", permissions=[])
    assert not events("org.role.updated").exists()


# --- permissions: every service refuses an actor without the permission -----------------------


def _calls(p):
    sales_agent = Role.objects.get(code="sales_agent")
    return {
        "branch_create": lambda actor: branches.branch_create(
            actor=actor, company=p.company, parent=p.region, name="X", code="X-1", kind=BranchKind.STORE
        ),
        "branch_update": lambda actor: branches.branch_update(actor=actor, branch=p.branch_a, name="改名"),
        "team_create": lambda actor: teams.team_create(actor=actor, branch=p.branch_a, name="新组"),
        "team_update": lambda actor: teams.team_update(actor=actor, team=p.team_a1, name="改名"),
        "user_create": lambda actor: new_user(p, actor=actor),
        "user_update": lambda actor: users.user_update(actor=actor, user=p.agent2, display_name="改名"),
        "user_set_status": lambda actor: users.user_set_status(
            actor=actor, user=p.agent2, status="suspended", reason="测试"
        ),
        "user_assign_roles": lambda actor: users.user_assign_roles(actor=actor, user=p.agent2, roles=[]),
        "user_reset_password": lambda actor: users.user_reset_password(
            actor=actor, user=p.agent2, new_password="Another-Strong-26"
        ),
        "role_create": lambda actor: roles.role_create(
            actor=actor, code="intern", name="Intern", data_scope="own", permissions=[]
        ),
        "role_update": lambda actor: roles.role_update(
            actor=actor, role=sales_agent, name="改名", description="", data_scope="all", permissions=[]
        ),
        "login_unlock": lambda actor: auth_services.login_unlock(actor=actor, username="agent2"),
    }


SERVICES = [
    "branch_create",
    "branch_update",
    "team_create",
    "team_update",
    "user_create",
    "user_update",
    "user_set_status",
    "user_assign_roles",
    "user_reset_password",
    "role_create",
    "role_update",
    "login_unlock",
]


@pytest.mark.parametrize("service", SERVICES)
@pytest.mark.parametrize("persona", ["agent", "lead", "manager", "qa", "auditor"])
def test_services_refuse_an_actor_without_the_permission(p, service, persona):
    before = AuditEvent.objects.count()
    with pytest.raises(PermissionDeniedError) as exc:
        _calls(p)[service](getattr(p, persona))
    assert exc.value.status == 403
    assert AuditEvent.objects.count() == before
    p.agent2.refresh_from_db()
    assert p.agent2.display_name == "赵置业" and p.agent2.is_active and p.agent2.check_password(PASSWORD)
    assert not Branch.objects.filter(code="X-1").exists()
    assert not User.objects.filter(username="newhire").exists()


@pytest.mark.parametrize("service", SERVICES)
def test_services_refuse_an_inactive_administrator(p, service):
    from anju.testing import UserFactory

    second = UserFactory(username="admin2", branch=p.region, roles=["administrator"])
    User.objects.filter(pk=second.pk).update(is_active=False, status="suspended")
    second.refresh_from_db()
    with pytest.raises(PermissionDeniedError):
        _calls(p)[service](second)


@pytest.mark.parametrize("service", SERVICES)
def test_the_administrator_may_call_every_service(p, service):
    _calls(p)[service](p.admin)


# --- all or nothing ---------------------------------------------------------------------------


class Boom(Exception):
    pass


@pytest.fixture
def fail_after_audit(monkeypatch):
    """Make the service blow up right after its audit row is written (still inside its transaction)."""
    real_record = audit.record

    def record_then_fail(**kwargs):
        real_record(**kwargs)
        raise Boom

    monkeypatch.setattr(audit, "record", record_then_fail)


def test_a_failing_user_create_leaves_no_user_and_no_audit_row(p, fail_after_audit):
    before = AuditEvent.objects.count()
    with pytest.raises(Boom):
        new_user(p)
    assert not User.objects.filter(username="newhire").exists()
    assert not User.roles.through.objects.filter(user__username="newhire").exists()
    assert AuditEvent.objects.count() == before


def test_a_failing_branch_move_leaves_the_tree_as_it_was(p, fail_after_audit):
    paths = dict(Branch.objects.values_list("pk", "path"))
    before = AuditEvent.objects.count()
    with pytest.raises(Boom):
        branches.branch_update(actor=p.admin, branch=p.branch_b, parent=p.branch_a)
    assert dict(Branch.objects.values_list("pk", "path")) == paths
    assert Branch.objects.get(pk=p.branch_b.pk).parent_id == p.region.pk
    assert AuditEvent.objects.count() == before


def test_a_failing_suspension_keeps_the_user_active_and_tokens_valid(p, fail_after_audit):
    token = ApiToken.objects.create(
        user=p.agent, name="crm", prefix="anju_x", key_hash="0" * 64, expires_at=dt.datetime(2099, 1, 1, tzinfo=dt.UTC)
    )
    before = AuditEvent.objects.count()
    with pytest.raises(Boom):
        users.user_set_status(actor=p.admin, user=p.agent, status="suspended", reason="违规")
    p.agent.refresh_from_db()
    token.refresh_from_db()
    assert p.agent.is_active and p.agent.status == UserStatus.ACTIVE
    assert token.revoked_at is None
    assert AuditEvent.objects.count() == before
    assert audit.verify().ok
