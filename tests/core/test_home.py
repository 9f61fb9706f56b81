"""Each role lands on its own work page, and the numbers on it are the database's."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.urls import reverse
from django.utils import timezone

from anju.core import audit
from anju.org.choices import UserStatus
from anju.org.models import User
from anju.org.services import auth as auth_services
from anju.testing import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db

EN = {"Accept-Language": "en"}
HOME_ROLE = {
    "agent": "sales_agent",
    "agent2": "sales_agent",
    "agent3": "sales_agent",
    "lead": "team_lead",
    "manager": "branch_manager",
    "cs": "customer_service",
    "legal": "legal",
    "finance": "finance",
    "qa": "qa",
    "admin": "administrator",
    "auditor": "auditor",
}


def stat(response, key: str) -> int:
    match = re.search(rf'data-testid="stat-{key}">(\d+)<', response.content.decode())
    assert match, f"no stat-{key} on the page"
    return int(match.group(1))


def has_stat(response, key: str) -> bool:
    return f'data-testid="stat-{key}"' in response.content.decode()


def member_usernames(response) -> list[str]:
    return re.findall(r'data-username="([^"]+)"', response.content.decode())


def test_anonymous_is_sent_to_login(client, p):
    response = client.get(reverse("home"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


@pytest.mark.parametrize(("persona", "role"), HOME_ROLE.items())
def test_every_persona_lands_on_their_role_page(login, p, persona, role):
    response = login(getattr(p, persona)).get(reverse("home"), headers=EN)
    assert response.status_code == 200
    assert f'data-testid="home-{role}"' in response.content.decode()
    assert response.context["role"] == role


def test_user_without_a_role_gets_an_explanation(login, p):
    nobody = UserFactory(username="nobody", branch=p.branch_a, team=p.team_a1)
    response = login(nobody).get(reverse("home"), headers=EN)
    html = response.content.decode()
    assert response.status_code == 200
    assert 'data-testid="home-none"' in html
    assert 'data-testid="home-no-role"' in html
    assert "no access" in html


def test_most_powerful_role_picks_the_page(login, p):
    both = UserFactory(username="both", roles=["sales_agent", "team_lead"], branch=p.branch_a, team=p.team_a1)
    response = login(both).get(reverse("home"))
    assert 'data-testid="home-team_lead"' in response.content.decode()


def test_greeting_shows_name_role_and_scope(login, p):
    html = login(p.manager).get(reverse("home"), headers=EN).content.decode()
    assert "Hello, 孙经理" in html
    assert "Branch manager" in html
    assert "Branch and sub-branches" in html
    assert "滨江案场" in html


# --- administrator and auditor --------------------------------------------------------------


def test_admin_sees_organisation_counts_from_the_database(login, p):
    User.objects.filter(pk=p.agent3.pk).update(status=UserStatus.SUSPENDED)
    p.team_b1.is_active = False
    p.team_b1.save()

    response = login(p.admin).get(reverse("home"))

    assert stat(response, "users-active") == User.objects.filter(status=UserStatus.ACTIVE).count() == 10
    assert stat(response, "users-suspended") == 1
    assert stat(response, "teams") == 2
    assert stat(response, "branches") == 3


def test_admin_sees_todays_security_events(login, p, client):
    for _ in range(2):
        client.post(reverse("login"), {"username": "agent", "password": "wrong-password"})
    client.post(reverse("login"), {"username": "agent", "password": PASSWORD})
    # Yesterday's events do not count as today's.
    yesterday = timezone.now() - timedelta(days=1, hours=1)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("django.utils.timezone.now", lambda: yesterday)
        audit.record(actor=None, actor_name="old", action="auth.login_failed")

    response = login(p.admin).get(reverse("home"))

    assert stat(response, "failed-logins-today") == 2
    assert stat(response, "logins-today") == 2  # the agent's and the admin's own
    assert stat(response, "events-today") == 4


def test_admin_sees_locked_logins_and_a_link_to_release_them(login, p):
    now = timezone.now()
    for username, failures in [("agent", 5), ("agent2", 2)]:
        AccessAttempt.objects.create(
            username=username,
            ip_address="10.0.0.1",
            user_agent="t",
            http_accept="*/*",
            path_info="/login/",
            get_data="",
            post_data="",
            failures_since_start=failures,
        )
    # A lockout whose cool-off has passed is no longer a lockout.
    stale = AccessAttempt.objects.create(
        username="agent3",
        ip_address="10.0.0.1",
        user_agent="t",
        http_accept="*/*",
        path_info="/login/",
        get_data="",
        post_data="",
        failures_since_start=9,
    )
    AccessAttempt.objects.filter(pk=stale.pk).update(attempt_time=now - timedelta(hours=2))

    response = login(p.admin).get(reverse("home"))

    assert stat(response, "locked-logins") == 1
    assert reverse("org:lockout-list") in response.content.decode()


def test_auditor_sees_the_same_counts_but_no_unlock_link(login, p):
    response = login(p.auditor).get(reverse("home"))
    assert stat(response, "users-active") == 11
    assert has_stat(response, "locked-logins")
    assert reverse("org:lockout-list") not in response.content.decode()


def test_admin_sees_recent_audit_events_and_a_link_to_the_trail(login, p):
    event = audit.record(actor=p.admin, action="org.user.suspended", target=p.agent)
    html = login(p.admin).get(reverse("home")).content.decode()
    assert f'data-seq="{event.seq}"' in html
    assert "org.user.suspended" in html
    assert f'href="{reverse("audit-list")}"' in html


# --- managers and leads ---------------------------------------------------------------------


def test_team_lead_sees_their_team_members_only(login, p):
    response = login(p.lead).get(reverse("home"), headers=EN)
    assert sorted(member_usernames(response)) == ["agent", "lead"]
    assert stat(response, "users-active") == 2
    assert "My team: 滨江一组" in response.content.decode()


def test_branch_manager_sees_active_branch_staff(login, p):
    User.objects.filter(pk=p.agent2.pk).update(status=UserStatus.SUSPENDED)
    response = login(p.manager).get(reverse("home"))
    expected = sorted(
        User.objects.visible_to(p.manager).filter(status=UserStatus.ACTIVE).values_list("username", flat=True)
    )
    assert sorted(member_usernames(response)) == expected
    assert "agent2" not in expected
    assert "agent3" not in expected  # another branch
    assert stat(response, "users-active") == len(expected)
    assert stat(response, "teams") == 2


# --- sales agent ----------------------------------------------------------------------------


def test_agent_home_shows_todays_work_from_the_database(login, p):
    response = login(p.agent).get(reverse("home"), headers=EN)
    html = response.content.decode()
    assert "Today&#x27;s work" in html or "Today's work" in html
    assert "滨江一组 · 滨江案场" in html
    for key in ("followups-today", "followups-overdue", "followups-upcoming", "visits-today"):
        assert stat(response, key) == 0
    assert 'data-testid="pending-followups-due"' not in html
    assert reverse("customers:reception-desk", args=[p.branch_a.pk]) in html
    assert reverse("customers:followup-list") in html
    # No organisation or security figures for an agent.
    for key in ("users-active", "users-suspended", "events-today", "locked-logins"):
        assert not has_stat(response, key)


def _customer_work(p, batch: int = 0) -> None:
    """Customers, visits and follow-ups in branch A (agent: 2, agent2: 1) and branch B (agent3: 1)."""
    from anju.customers.models import FollowUpTask, Visit
    from anju.customers.services.customers import customer_register

    now = timezone.now()
    for number, agent in enumerate([p.agent, p.agent, p.agent2, p.agent3], start=1):
        customer = customer_register(
            actor=agent,
            name=f"客户{number}",
            phone=f"137{batch:04d}{number:04d}",
            source="walk_in",
            consent_channel="face_to_face",
        )
        FollowUpTask.objects.create(
            customer=customer, assignee=agent, title="Follow-up", due_at=now - timedelta(hours=number)
        )
        Visit.objects.create(
            customer=customer,
            branch=customer.branch,
            arrived_at=now - timedelta(minutes=10 * number),
            is_first_visit=True,
            assigned_to=agent,
            registered_by=agent,
        )


def test_branch_manager_sees_customers_visits_and_overdue_follow_ups(login, p):
    _customer_work(p)
    response = login(p.manager).get(reverse("home"), headers=EN)
    html = response.content.decode()

    assert stat(response, "visits-today") == 3  # branch B's visit is not theirs
    assert stat(response, "visits-waiting-long") == 2  # arrived 20 and 30 minutes ago, still waiting
    assert "Waiting over 15 min now" in html
    assert stat(response, "branch-followups-overdue") == 3
    assert re.search(r'data-testid="stage-lead">3<', html)
    assert re.search(r'data-testid="overdue-agent">2<', html) and re.search(r'data-testid="overdue-agent2">1<', html)
    assert reverse("customers:branch-settings", args=[p.branch_a.pk]) in html


def test_team_lead_sees_overdue_follow_ups_of_their_team_only(login, p):
    _customer_work(p)
    response = login(p.lead).get(reverse("home"), headers=EN)
    html = response.content.decode()
    assert stat(response, "team-followups-overdue") == 2
    assert re.search(r'data-testid="overdue-agent">2<', html)
    assert 'data-testid="overdue-agent2"' not in html


def test_agent_sees_own_logins_in_the_last_seven_days_and_active_tokens(p, client):
    for username in ["agent", "agent", "agent2", "agent"]:  # agent2's login is someone else's
        assert client.post(reverse("login"), {"username": username, "password": PASSWORD}).status_code == 302
        client.post(reverse("logout"))
    client.post(reverse("login"), {"username": "agent", "password": PASSWORD})
    eight_days_ago = timezone.now() - timedelta(days=8)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("django.utils.timezone.now", lambda: eight_days_ago)
        audit.record(actor=p.agent, action="auth.login", target=p.agent)  # too old
    auth_services.token_create(actor=p.agent, name="CRM")
    _revoked, _raw = auth_services.token_create(actor=p.agent, name="old")
    auth_services.token_revoke(actor=p.agent, token=_revoked)
    auth_services.token_create(actor=p.agent2, name="not mine")

    response = client.get(reverse("home"))

    assert 'data-testid="home-sales_agent"' in response.content.decode()
    assert stat(response, "my-logins-7d") == 4
    assert stat(response, "my-tokens") == 1


@pytest.mark.parametrize("persona", ["cs", "legal", "finance", "qa"])
def test_back_office_pages_say_which_module_brings_their_queue(login, p, persona):
    html = login(getattr(p, persona)).get(reverse("home"), headers=EN).content.decode()
    assert "Available when" in html
    assert 'data-testid="pending-' in html


def test_home_page_is_in_chinese_by_default(login, p):
    response = login(p.agent).get(reverse("home"))
    assert response.status_code == 200
    assert response.context["LANGUAGE_CODE"] == "zh-hans"


@pytest.mark.parametrize("persona", ["admin", "manager", "lead", "agent", "cs"])
def test_home_query_count_is_bounded(login, p, persona, django_assert_max_num_queries):
    for _ in range(30):
        audit.record(actor=p.admin, action="core.test.done")
    for batch in range(3):
        _customer_work(p, batch)
    client = login(getattr(p, persona))
    client.get(reverse("home"))
    # A fixed budget (one page = one bounded set of queries); branch scope adds one lookup of
    # the branch subtree's ids, which lets every scoped list use its own table's indexes.
    with django_assert_max_num_queries(24):
        client.get(reverse("home"))
