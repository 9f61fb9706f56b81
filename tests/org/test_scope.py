"""R1.1.3: each role sees exactly its scope of users and teams — page, API and export."""

import pytest

from anju.org.models import Team, User

pytestmark = pytest.mark.django_db


def usernames(qs):
    return sorted(qs.values_list("username", flat=True))


def test_agent_sees_only_themself(p):
    assert usernames(User.objects.visible_to(p.agent)) == ["agent"]


def test_team_lead_sees_own_team(p):
    assert usernames(User.objects.visible_to(p.lead)) == ["agent", "lead"]
    assert list(Team.objects.visible_to(p.lead)) == [p.team_a1]


def test_branch_manager_sees_branch_without_region_staff(p):
    assert usernames(User.objects.visible_to(p.manager)) == sorted(
        ["agent", "agent2", "lead", "manager", "cs", "legal", "finance"]
    )


def test_admin_sees_all(p):
    assert User.objects.visible_to(p.admin).count() == 11


def test_anonymous_and_roleless_see_nothing(p):
    from anju.core.testing import UserFactory

    nobody = UserFactory(branch=p.branch_a, team=p.team_a1)
    assert User.objects.visible_to(nobody).count() == 0
    assert User.objects.visible_to(p.anonymous).count() == 0
