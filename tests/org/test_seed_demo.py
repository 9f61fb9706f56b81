"""``manage.py seed_demo``: the demo company, its logins, idempotence guards, audit and encryption."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection, transaction
from django.urls import reverse
from django.utils import translation

from anju.core import audit
from anju.core.models import AuditEvent
from anju.org import demo
from anju.org.choices import UserStatus
from anju.org.models import Branch, Company, Role, Team, User
from anju.org.services.users import phone_index

pytestmark = pytest.mark.django_db

DEMO_PASSWORD = "anju-demo-2026"
FIXED_ROLES = {
    "agent": "sales_agent",
    "agent2": "sales_agent",
    "agent3": "sales_agent",
    "cs": "customer_service",
    "lead": "team_lead",
    "manager": "branch_manager",
    "legal": "legal",
    "finance": "finance",
    "qa": "qa",
    "admin": "administrator",
    "auditor": "auditor",
}


def seed(*args) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("seed_demo", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


@pytest.fixture
def seeded(settings):
    settings.ANJU_DEMO_PASSWORD = DEMO_PASSWORD
    return seed()


def user(username: str) -> User:
    return User.objects.select_related("branch", "team").get(username=username)


def test_every_fixed_login_exists_with_exactly_its_role(seeded):
    for username, role in FIXED_ROLES.items():
        assert user(username).role_codes() == {role}, username
    assert user("agent").display_name == "李明"


def test_fixed_users_sit_where_the_personas_do(seeded):
    agent, agent2, agent3, lead = user("agent"), user("agent2"), user("agent3"), user("lead")
    assert agent.branch == agent2.branch
    assert agent.team != agent2.team
    assert agent3.branch != agent.branch
    assert agent.team.lead == lead
    assert lead.team == agent.team
    for username in ("cs", "manager", "legal", "finance"):
        assert user(username).branch == agent.branch, username
    region = Branch.objects.get(code="R-EAST")
    assert user("auditor").branch == region
    assert agent.branch.parent == region and agent3.branch.parent == region
    assert Company.objects.get().name == "安居地产集团有限公司"


def test_each_team_has_several_agents_and_one_user_is_suspended(seeded):
    for team in Team.objects.all():
        assert team.members.filter(roles__code="sales_agent").count() >= 3, team
        assert team.lead is not None, team
    suspended = User.objects.get(status=UserStatus.SUSPENDED)
    assert suspended.is_active is False
    assert 25 <= User.objects.count() <= 40


def test_every_fixed_user_can_log_in_with_the_demo_password(seeded, client):
    for username in FIXED_ROLES:
        response = client.post(reverse("login"), {"username": username, "password": DEMO_PASSWORD})
        assert response.status_code == 302, username
        assert client.session["_auth_user_id"] == str(user(username).pk)
        client.logout()


def test_extra_staff_have_realistic_profiles(seeded):
    extra = User.objects.exclude(username__in=FIXED_ROLES)
    assert extra.exists()
    for person in extra:
        assert person.employee_no.startswith("AJ") and len(person.employee_no) == 6
        assert len(person.phone) == 11 and person.phone[0] == "1" and person.phone[1] in "3456789"
        assert person.hire_date and person.position and person.display_name
    assert len({person.phone for person in User.objects.all()}) == User.objects.count()


def test_if_empty_on_a_seeded_database_changes_nothing(seeded):
    users, events = User.objects.count(), AuditEvent.objects.count()
    out, err = seed("--if-empty")
    assert (out, err) == ("", "")
    assert (User.objects.count(), AuditEvent.objects.count()) == (users, events)


def test_if_empty_seeds_an_empty_database(settings):
    settings.ANJU_DEMO_PASSWORD = DEMO_PASSWORD
    seed("--if-empty")
    assert Company.objects.count() == 1


def test_second_run_without_if_empty_is_refused(seeded):
    with translation.override("en"), pytest.raises(CommandError, match="already holds data"):
        seed()
    assert Company.objects.count() == 1


def test_scale_two_creates_more_staff_than_scale_one(settings):
    settings.ANJU_DEMO_PASSWORD = DEMO_PASSWORD
    with transaction.atomic():
        seed()
        at_scale_one = User.objects.count()
        transaction.set_rollback(True)
    assert User.objects.count() == 0
    seed("--scale", "2")
    assert User.objects.count() > at_scale_one


def test_scale_below_one_is_refused():
    with pytest.raises(CommandError):
        seed("--scale", "0")
    assert not User.objects.exists()


def test_every_user_has_a_creation_event_and_the_chain_verifies(seeded):
    created = AuditEvent.objects.filter(action="org.user.created")
    assert set(created.values_list("target_id", flat=True)) == {
        str(pk) for pk in User.objects.values_list("pk", flat=True)
    }
    bootstrap = created.get(target_id=str(user("admin").pk))
    assert (bootstrap.actor_id, bootstrap.actor_name) == (None, "seed_demo")
    assert set(created.exclude(pk=bootstrap.pk).values_list("actor__username", flat=True)) == {"admin"}
    assert set(AuditEvent.objects.values_list("source", flat=True)) == {"cli"}
    assert AuditEvent.objects.filter(
        action__in=["org.branch.created", "org.team.created", "org.user.suspended"]
    ).exists()
    assert "13957100006" not in str(created.get(target_id=str(user("agent").pk)).after)
    assert audit.verify().ok


def test_phone_is_encrypted_at_rest_with_its_blind_index(seeded):
    agent = user("agent")
    table = connection.ops.quote_name(User._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT phone, phone_index FROM {table} WHERE username = %s", ["agent"])  # noqa: S608
        raw_phone, raw_index = cursor.fetchone()
    assert agent.phone == "13957100006"
    assert "13957100006" not in raw_phone
    assert raw_index == phone_index("13957100006")
    assert not User.objects.filter(phone_index="").exists()


def test_a_failing_step_leaves_nothing(settings):
    settings.ANJU_DEMO_PASSWORD = DEMO_PASSWORD

    def broken_step(ctx):
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        demo.seed(steps=[demo.seed_org, demo.seed_demo_logins, broken_step])
    assert not Company.objects.exists()
    assert not User.objects.exists()
    assert not AuditEvent.objects.exists()


def test_a_demo_password_the_validators_reject_is_refused_cleanly(settings):
    settings.ANJU_DEMO_PASSWORD = "short"
    with translation.override("en"), pytest.raises(CommandError, match="nothing was saved"):
        seed()
    assert not User.objects.exists()


def test_summary_lists_the_logins_and_progress_goes_to_stderr(seeded):
    out, err = seeded
    assert "李明" in out and "agent3" in out and DEMO_PASSWORD in out
    assert "100%" in err


def test_missing_built_in_roles_are_reported_before_anything_is_written(settings):
    settings.ANJU_DEMO_PASSWORD = DEMO_PASSWORD
    Role.objects.filter(code="auditor").delete()
    with pytest.raises(CommandError, match="migrate"):
        seed()
    assert not User.objects.exists()
