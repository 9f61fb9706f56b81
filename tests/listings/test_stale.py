"""Monthly re-verification (R3.1.2): the daily stale flag (time-travel), the re-verify page,
the stale queue per collector and per branch, and the branch's interval."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone, translation

from anju.core import jobs
from anju.core.errors import ApplicationError, PermissionDeniedError
from anju.core.models import AuditEvent, Notification
from anju.listings import tasks
from anju.listings.models import BranchListingSettings, Listing, ListingChange, ListingVerification
from anju.listings.services.listings import listing_change_status
from anju.listings.services.stale import (
    branch_listing_settings_save,
    flag_stale,
    queue_url,
    stale_count,
    stale_listings,
    stale_rule,
)

pytestmark = pytest.mark.django_db

EN = {"Accept-Language": "en"}
QUEUE = reverse("listings:stale-queue")


def age(listing: Listing, days: float, *, now=None) -> Listing:
    """Time travel: the listing was last verified ``days`` days before ``now``."""
    now = now or timezone.now()
    Listing.objects.filter(pk=listing.pk).update(last_verified_at=now - timedelta(days=days))
    listing.refresh_from_db()
    return listing


def stale_ids(now) -> list[int]:
    return list(stale_listings(rule=stale_rule(now=now)).values_list("pk", flat=True))


def row_ids(response) -> set[int]:
    return {int(pk) for pk in re.findall(r'data-testid="stale-row" data-listing="(\d+)"', response.content.decode())}


def tab_names(response) -> list[str]:
    return re.findall(r'data-testid="tab-(\w+)"', response.content.decode())


# --- which listings are stale (time travel) ----------------------------------------------------


def test_job_flags_exactly_the_listings_past_30_days(p, make_listing):
    now = timezone.now()
    fresh, due_now, late = (make_listing(p.agent) for _ in range(3))
    age(fresh, 29, now=now)
    age(due_now, 30, now=now)  # due this very moment: not yet past
    age(late, 31, now=now)

    assert flag_stale(now=now) == 1

    assert stale_ids(now) == [late.pk]
    assert stale_count(Listing.objects.all(), now=now) == 1
    # A second later the 30-day listing is past due too.
    assert stale_ids(now + timedelta(seconds=1)) == [late.pk, due_now.pk]
    assert stale_count(Listing.objects.all(), now=now + timedelta(seconds=1)) == 2


def test_a_branch_interval_of_seven_days_is_respected(p, make_listing):
    now = timezone.now()
    branch_listing_settings_save(actor=p.admin, branch=p.branch_b, verify_every_days=7)
    b_fresh, b_late = age(make_listing(p.agent3), 6, now=now), age(make_listing(p.agent3), 8, now=now)
    a_eight_days = age(make_listing(p.agent), 8, now=now)  # branch A keeps the 30-day default
    a_late = age(make_listing(p.agent), 45, now=now)

    assert flag_stale(now=now) == 2
    assert set(stale_ids(now)) == {b_late.pk, a_late.pk}
    # The one-query count used on home pages agrees with the range conditions.
    assert stale_count(Listing.objects.all(), now=now) == 2
    assert stale_count(Listing.objects.filter(branch=p.branch_b), now=now) == 1
    assert {b_fresh.pk, a_eight_days.pk}.isdisjoint(stale_ids(now))


def test_sold_and_off_market_listings_are_never_stale_but_reserved_ones_are(p, make_listing):
    now = timezone.now()
    sold, off, reserved = (make_listing(p.agent) for _ in range(3))
    listing_change_status(actor=p.agent, listing=sold, to_status="sold", reason="已成交")
    listing_change_status(actor=p.agent, listing=off, to_status="off_market", reason="业主暂不出售")
    listing_change_status(actor=p.agent, listing=reserved, to_status="reserved", reason="客户已下定")
    for listing in (sold, off, reserved):
        age(listing, 90, now=now)

    assert flag_stale(now=now) == 1
    assert stale_ids(now) == [reserved.pk]


# --- the daily job -----------------------------------------------------------------------------


def test_each_collector_is_notified_once_a_day_and_again_the_next_day(p, make_listing):
    now = timezone.now()
    for listing in (make_listing(p.agent), make_listing(p.agent), make_listing(p.agent3)):
        age(listing, 40, now=now)
    age(make_listing(p.agent2), 3, now=now)  # nothing stale: no notice

    with translation.override("en"):
        assert flag_stale(now=now) == 3
        assert flag_stale(now=now) == 3  # same day: nothing new

    notices = Notification.objects.order_by("user__username")
    assert [(n.user.username, n.title, n.url) for n in notices] == [
        ("agent", "2 listings need re-verification", queue_url()),
        ("agent3", "1 listing needs re-verification", queue_url()),
    ]
    events = AuditEvent.objects.filter(action="listings.stale.flagged").order_by("seq")
    assert [e.after for e in events] == [
        {"stale": 3, "collectors": 2, "notified": 2},
        {"stale": 3, "collectors": 2, "notified": 0},
    ]
    assert all(e.actor is None and e.actor_name == "system" for e in events)

    flag_stale(now=now + timedelta(days=1))
    assert Notification.objects.filter(user=p.agent).count() == 2


def test_collectors_who_left_are_not_notified(p, make_listing):
    age(make_listing(p.agent2), 40)
    p.agent2.is_active = False
    p.agent2.save(update_fields=["is_active"])
    assert flag_stale() == 1
    assert not Notification.objects.exists()


def test_the_flag_job_is_a_daily_periodic_task_at_two_in_the_morning(p, make_listing):
    jobs.discover()
    job = {job.name: job for job in jobs.registered()}["listings.flag_stale"]
    assert job.every == timedelta(days=1)
    assert job.slot(timezone.now()).endswith("T18:00:00Z")  # 02:00 Asia/Shanghai
    age(make_listing(p.agent), 31)

    assert tasks.flag_stale.call() == 1
    assert AuditEvent.objects.get(action="listings.stale.flagged").source == "task"


# --- re-verify page ----------------------------------------------------------------------------


def _update_data(listing: Listing, **changes) -> dict:
    data = {
        "action": "update",
        "update-total_price": str(listing.total_price),
        "update-decoration": listing.decoration,
        "update-contact_name": listing.contact_name,
        "update-contact_phone": "",
        "update-facility_notes": listing.facility_notes,
        "update-tags": ", ".join(listing.tags),
        "update-note": "",
    }
    if listing.mortgaged:
        data["update-mortgaged"] = "on"
    data.update({f"update-{name}": value for name, value in changes.items()})
    return data


def test_reverify_page_shows_key_fields_with_the_contact_masked(login, p, make_listing):
    listing = age(make_listing(p.agent, contact_phone="13911112222"), 35)
    html = login(p.agent).get(reverse("listings:listing-reverify", args=[listing.pk]), headers=EN).content.decode()
    assert "139****2222" in html and "13911112222" not in html
    assert 'data-testid="reverify-stale"' in html and "5 days overdue" in html
    assert 'data-testid="reverify-confirm"' in html and 'data-testid="reverify-update"' in html


def test_confirm_unchanged_resets_the_clock_and_returns_to_the_queue(login, p, make_listing):
    listing = age(make_listing(p.agent), 40)
    client = login(p.agent)
    assert row_ids(client.get(QUEUE)) == {listing.pk}
    next_url = f"{QUEUE}?tab=mine"

    response = client.post(
        reverse("listings:listing-reverify", args=[listing.pk]),
        {"action": "confirm", "confirm-note": "电话核实业主", "next": next_url},
    )

    assert response.status_code == 302 and response["Location"] == next_url
    listing.refresh_from_db()
    assert timezone.now() - listing.last_verified_at < timedelta(minutes=1)
    assert listing.last_verified_by == p.agent
    check = ListingVerification.objects.get(listing=listing)
    assert (check.outcome, check.note, check.change) == ("confirmed", "电话核实业主", None)
    assert not ListingChange.objects.filter(listing=listing).exists()
    assert row_ids(client.get(QUEUE)) == set()


def test_update_and_verify_writes_a_change_and_an_updated_verification(login, p, make_listing):
    listing = age(make_listing(p.agent, total_price="320", built_area="100", contact_phone="13911112222"), 40)
    client = login(p.agent)

    response = client.post(
        reverse("listings:listing-reverify", args=[listing.pk]),
        _update_data(listing, total_price="300", tags="满五唯一, 急售", **{"note": "业主降价，电话确认"}),
    )

    assert response.status_code == 302 and response["Location"] == QUEUE  # no next: back to the queue
    listing.refresh_from_db()
    assert str(listing.total_price) == "300.00" and listing.tags == ["满五唯一", "急售"]
    assert listing.contact_phone == "13911112222"  # an empty phone field keeps the number
    change = ListingChange.objects.get(listing=listing)
    assert change.reason == "业主降价，电话确认" and change.changed_by == p.agent
    assert change.changes["total_price"] == {"before": "320.00", "after": "300.00"}
    assert change.changes["tags"] == {"before": [], "after": ["满五唯一", "急售"]}
    assert set(change.changes) == {"total_price", "unit_price", "tags"}
    check = ListingVerification.objects.get(listing=listing)
    assert (check.outcome, check.change) == ("updated", change)
    assert timezone.now() - listing.last_verified_at < timedelta(minutes=1)


def test_update_needs_a_note_and_a_change_and_valid_values(login, p, make_listing):
    listing = age(make_listing(p.agent), 40)
    client = login(p.agent)
    url = reverse("listings:listing-reverify", args=[listing.pk])

    no_note = client.post(url, _update_data(listing, total_price="300"), headers=EN)
    nothing_changed = client.post(url, _update_data(listing, note="核实"), headers=EN)
    bad_price = client.post(url, _update_data(listing, total_price="0", note="核实"), headers=EN)

    assert no_note.status_code == nothing_changed.status_code == bad_price.status_code == 200
    assert 'data-testid="error-note"' in no_note.content.decode()
    assert "Nothing was changed" in nothing_changed.content.decode()
    assert 'data-testid="error-total_price"' in bad_price.content.decode()
    assert not ListingVerification.objects.filter(listing=listing).exists()
    assert not ListingChange.objects.filter(listing=listing).exists()
    before = listing.last_verified_at
    listing.refresh_from_db()
    assert listing.last_verified_at == before and str(listing.total_price) == "320.00"


def test_reverify_ignores_a_next_url_on_another_site(login, p, make_listing):
    listing = make_listing(p.agent)
    response = login(p.agent).post(
        reverse("listings:listing-reverify", args=[listing.pk]),
        {"action": "confirm", "next": "https://evil.example.com/"},
    )
    assert response["Location"] == QUEUE


# --- the queue: scope, counts, query budget ----------------------------------------------------


@pytest.fixture
def stale_world(p, make_listing):
    """Stale listings: agent 2 (team A1), agent2 1 (team A2), lead 1 (team A1), agent3 1 (branch B); one fresh."""
    made = {}
    for name, count in [("agent", 2), ("agent2", 1), ("lead", 1), ("agent3", 1)]:
        made[name] = [age(make_listing(getattr(p, name)), 31 + i) for i in range(count)]
    made["fresh"] = [make_listing(p.agent)]
    return {name: {listing.pk for listing in listings} for name, listings in made.items()}


def test_agent_sees_only_their_own_stale_listings(login, p, stale_world):
    response = login(p.agent).get(QUEUE)
    assert response.status_code == 200
    assert tab_names(response) == ["mine"]
    assert row_ids(response) == stale_world["agent"]


def test_another_agent_does_not_see_the_agents_listings(login, p, stale_world):
    response = login(p.agent2).get(QUEUE)
    assert row_ids(response) == stale_world["agent2"]
    assert row_ids(login(p.agent2).get(QUEUE + "?tab=branch")) == stale_world["agent2"]  # not their tab


def test_team_lead_sees_their_team_with_counts_per_collector(login, p, stale_world):
    response = login(p.lead).get(QUEUE)
    html = response.content.decode()
    assert tab_names(response) == ["mine", "team"]
    assert row_ids(response) == stale_world["agent"] | stale_world["lead"]
    assert re.search(r'data-collector="agent".*?data-testid="stale-collector-count">2<', html, re.S)
    assert 'data-collector="agent2"' not in html
    assert row_ids(login(p.lead).get(QUEUE + "?tab=mine")) == stale_world["lead"]


def test_branch_manager_sees_the_branch_per_collector_and_per_branch(login, p, stale_world):
    client = login(p.manager)
    response = client.get(QUEUE)
    html = response.content.decode()
    assert tab_names(response) == ["mine", "branch"]
    assert row_ids(response) == stale_world["agent"] | stale_world["agent2"] | stale_world["lead"]
    assert re.search(r'data-testid="count-branch">4<', html)
    assert f'data-branch="{p.branch_a.pk}"' in html and f'data-branch="{p.branch_b.pk}"' not in html
    filtered = client.get(f"{QUEUE}?tab=branch&collector={p.agent2.pk}")
    assert row_ids(filtered) == stale_world["agent2"]
    assert 'data-testid="stale-collector-filter"' in filtered.content.decode()


def test_administrator_sees_every_branch(login, p, stale_world):
    response = login(p.admin).get(QUEUE)
    assert tab_names(response) == ["mine", "all"]
    assert row_ids(response) == set().union(*(ids for name, ids in stale_world.items() if name != "fresh"))


def test_queue_rows_show_days_overdue_oldest_first(login, p, make_listing):
    older, newer = age(make_listing(p.agent), 40), age(make_listing(p.agent), 33)
    html = login(p.agent).get(QUEUE).content.decode()
    assert re.findall(r'data-testid="stale-row" data-listing="(\d+)"', html) == [str(older.pk), str(newer.pk)]
    assert re.findall(r'data-testid="stale-overdue" data-days="(-?\d+)"', html) == ["10", "3"]


def test_queue_pages_through_htmx_with_the_rows_only(login, p, make_listing):
    age(make_listing(p.agent), 40)
    html = login(p.agent).get(QUEUE + "?tab=mine&page=1", headers={"HX-Request": "true"}).content.decode()
    assert 'data-testid="stale-table"' in html and "<html" not in html and 'data-testid="stale-tabs"' not in html


def _queue_queries(client, url: str) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    return len(queries.captured_queries)


def test_queue_query_count_does_not_grow_with_rows(login, p, make_listing, django_assert_max_num_queries):
    BranchListingSettings.objects.create(branch=p.branch_b, verify_every_days=7)
    client = login(p.manager)
    for agent in (p.agent, p.agent2):
        age(make_listing(agent), 40)
    client.get(QUEUE)
    few = _queue_queries(client, QUEUE)
    for index in range(30):
        age(make_listing([p.agent, p.agent2, p.lead][index % 3]), 31 + index)
    many = _queue_queries(client, QUEUE)
    assert many == few
    with django_assert_max_num_queries(18):
        client.get(QUEUE)


# --- permissions -------------------------------------------------------------------------------


def test_anonymous_is_sent_to_login_from_every_page(client, p, make_listing):
    listing = make_listing(p.agent)
    for url in (
        QUEUE,
        reverse("listings:listing-reverify", args=[listing.pk]),
        reverse("listings:listing-settings", args=[p.branch_a.pk]),
    ):
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith(reverse("login"))


@pytest.mark.parametrize("persona", ["cs", "legal", "finance", "qa", "auditor"])
def test_view_only_roles_cannot_open_the_pages(login, p, make_listing, persona):
    listing = make_listing(p.agent)
    client = login(getattr(p, persona))
    assert client.get(QUEUE).status_code == 403
    assert client.get(reverse("listings:listing-reverify", args=[listing.pk])).status_code == 403
    assert (
        client.post(reverse("listings:listing-reverify", args=[listing.pk]), {"action": "confirm"}).status_code == 403
    )
    assert client.get(reverse("listings:listing-settings", args=[p.branch_a.pk])).status_code == 403
    assert not ListingVerification.objects.exists()


def test_only_the_collector_their_lead_and_manager_may_reverify(login, p, make_listing):
    listing = make_listing(p.agent)
    url = reverse("listings:listing-reverify", args=[listing.pk])
    for persona in ("agent2", "agent3"):
        client = login(getattr(p, persona))
        assert client.get(url).status_code == 403
        assert client.post(url, {"action": "confirm"}).status_code == 403
    for persona in ("agent", "lead", "manager", "admin"):
        assert login(getattr(p, persona)).get(url).status_code == 200
    assert login(p.lead).post(url, {"action": "confirm"}).status_code == 302
    assert ListingVerification.objects.get(listing=listing).verified_by == p.lead
    assert login(p.agent).get(reverse("listings:listing-reverify", args=[999999])).status_code == 404


def test_settings_page_permission_and_branch_scope(login, p):
    url_a = reverse("listings:listing-settings", args=[p.branch_a.pk])
    url_b = reverse("listings:listing-settings", args=[p.branch_b.pk])
    for persona in ("agent", "lead"):
        assert login(getattr(p, persona)).get(url_a).status_code == 403
    manager = login(p.manager)
    assert manager.get(url_a).status_code == 200
    assert manager.get(url_b).status_code == 404
    assert manager.post(url_b, {"verify_every_days": 7}).status_code == 404
    assert login(p.admin).get(url_b).status_code == 200
    assert not BranchListingSettings.objects.exists()


def test_manager_sets_the_branch_interval_and_it_is_audited(login, p, make_listing):
    client = login(p.manager)
    url = reverse("listings:listing-settings", args=[p.branch_a.pk])
    for bad in (0, 366, ""):
        response = client.post(url, {"verify_every_days": bad})
        assert response.status_code == 200 and 'data-testid="error-verify_every_days"' in response.content.decode()
    assert not BranchListingSettings.objects.exists()

    response = client.post(url, {"verify_every_days": 14})

    assert response.status_code == 302
    assert BranchListingSettings.objects.get(branch=p.branch_a).verify_every_days == 14
    event = AuditEvent.objects.get(action="listings.settings.saved")
    assert (event.actor, event.before, event.after) == (p.manager, {"verify_every_days": 30}, {"verify_every_days": 14})
    client.post(url, {"verify_every_days": 14})  # unchanged: no second event
    assert AuditEvent.objects.filter(action="listings.settings.saved").count() == 1
    listing = age(make_listing(p.agent), 15)
    assert stale_ids(timezone.now()) == [listing.pk]


def test_settings_service_refuses_without_permission_or_outside_scope(p):
    with pytest.raises(PermissionDeniedError):
        branch_listing_settings_save(actor=p.agent, branch=p.branch_a, verify_every_days=10)
    with pytest.raises(ApplicationError) as outside:
        branch_listing_settings_save(actor=p.manager, branch=p.branch_b, verify_every_days=10)
    assert outside.value.status == 404
    with pytest.raises(ApplicationError) as invalid:
        branch_listing_settings_save(actor=p.manager, branch=p.branch_a, verify_every_days=400)
    assert "verify_every_days" in invalid.value.fields
    assert not BranchListingSettings.objects.exists()


# --- home pages and sidebar --------------------------------------------------------------------


def _stat(response, key: str) -> int:
    match = re.search(rf'data-testid="stat-{key}">(\d+)<', response.content.decode())
    assert match, f"no stat-{key}"
    return int(match.group(1))


def test_home_pages_count_stale_listings(login, p, stale_world):
    assert _stat(login(p.agent).get(reverse("home")), "listings-stale") == 2
    assert _stat(login(p.manager).get(reverse("home")), "listings-stale") == 4
    assert 'data-testid="stat-listings-stale"' not in login(p.cs).get(reverse("home")).content.decode()


def test_sidebar_links_the_queue_for_roles_that_change_listings(login, p):
    assert f'href="{QUEUE}"' in login(p.agent).get(reverse("home")).content.decode()
    assert f'href="{QUEUE}"' not in login(p.cs).get(reverse("home")).content.decode()
