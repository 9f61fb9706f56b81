"""R1.1.3: each role sees exactly its scope of users and teams — page, API and export."""

import pytest

from anju.org.models import Team, User
from tests.helpers import csv_column

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
    from anju.testing import UserFactory

    nobody = UserFactory(branch=p.branch_a, team=p.team_a1)
    assert User.objects.visible_to(nobody).count() == 0
    assert User.objects.visible_to(p.anonymous).count() == 0


# --- the matrix: page, export and API agree for every persona (R1.1.3) -------------------------

BRANCH_A = ["agent", "agent2", "cs", "finance", "lead", "legal", "manager"]
EVERYONE = sorted([*BRANCH_A, "agent3", "qa", "admin", "auditor"])
EXPECTED_USERS = {
    "agent": ["agent"],
    "agent2": ["agent2"],
    "agent3": ["agent3"],
    "lead": ["agent", "lead"],
    "manager": BRANCH_A,
    "cs": BRANCH_A,
    "legal": BRANCH_A,
    "finance": BRANCH_A,
    "qa": EVERYONE,
    "admin": EVERYONE,
    "auditor": EVERYONE,
}
EXPECTED_TEAMS = {
    "agent": [],
    "agent2": [],
    "agent3": [],
    "lead": ["滨江一组"],
    "manager": ["滨江一组", "滨江二组"],
    "cs": ["滨江一组", "滨江二组"],
    "legal": ["滨江一组", "滨江二组"],
    "finance": ["滨江一组", "滨江二组"],
    "qa": ["滨江一组", "滨江二组", "西湖一组"],
    "admin": ["滨江一组", "滨江二组", "西湖一组"],
    "auditor": ["滨江一组", "滨江二组", "西湖一组"],
}


@pytest.mark.parametrize("username", sorted(EXPECTED_USERS))
def test_user_scope_is_the_same_on_page_export_and_api(p, client, username):
    viewer = getattr(p, username)
    client.force_login(viewer)
    expected = sorted(EXPECTED_USERS[username])

    page = client.get("/org/users/")
    assert page.status_code == 200
    assert sorted(u.username for u in page.context["page_obj"].object_list) == expected

    export = client.get("/org/users/export.csv")
    assert export.status_code == 200
    assert csv_column(export, 0) == expected

    api = client.get("/api/v1/users", {"page_size": 200})
    assert api.status_code == 200
    assert sorted(item["username"] for item in api.json()["items"]) == expected
    assert api.json()["count"] == len(expected)


@pytest.mark.parametrize("username", sorted(EXPECTED_TEAMS))
def test_team_scope_is_the_same_on_page_and_api(p, client, username):
    client.force_login(getattr(p, username))
    expected = sorted(EXPECTED_TEAMS[username])
    page = client.get("/org/teams/")
    assert page.status_code == 200
    assert sorted(t.name for t in page.context["page_obj"].object_list) == expected
    api = client.get("/api/v1/teams")
    assert sorted(item["name"] for item in api.json()["items"]) == expected


@pytest.mark.parametrize(
    ("viewer", "target", "status"),
    [
        ("agent", "agent2", 404),
        ("agent", "agent", 200),
        ("lead", "agent2", 404),
        ("lead", "agent", 200),
        ("manager", "agent3", 404),
        ("manager", "agent2", 200),
        ("auditor", "agent3", 200),
    ],
)
def test_out_of_scope_user_is_404_on_page_and_api(p, client, viewer, target, status):
    client.force_login(getattr(p, viewer))
    target_user = getattr(p, target)
    assert client.get(f"/org/users/{target_user.pk}/").status_code == status
    assert client.get(f"/api/v1/users/{target_user.pk}").status_code == status


def test_branch_scope_includes_every_branch_below(p):
    from anju.testing import UserFactory

    regional = UserFactory(username="regional", branch=p.region, roles=["branch_manager"])
    seen = set(User.objects.visible_to(regional).values_list("username", flat=True))
    assert {"agent", "agent2", "agent3", "manager", "regional", "qa", "admin", "auditor"} <= seen
    assert set(Team.objects.visible_to(regional).values_list("name", flat=True)) == {"滨江一组", "滨江二组", "西湖一组"}
