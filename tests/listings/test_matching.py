"""Needs-to-listing matching both ways, its section on the customer page and the one-click
recommendation into the communication log (R3.2.2, R4.1.1)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone, translation

from anju.core.errors import ApplicationError
from anju.core.models import AuditEvent
from anju.customers.models import Communication, Customer
from anju.customers.services.customers import customer_change_stage, customer_register, needs_update
from anju.listings.selectors import matching
from anju.listings.selectors.matching import customers_for_listing, listings_for_customer
from anju.listings.services.listings import listing_change_status
from anju.listings.services.recommendations import listing_recommend
from anju.testing import UserFactory

pytestmark = pytest.mark.django_db

PERFECT_NEEDS = {
    "districts": ["滨江区"],
    "rooms_min": 3,
    "rooms_max": 3,
    "area_min": 90,
    "area_max": 110,
    "price_min": 300,
    "price_max": 350,
    "floor_min": 5,
    "floor_max": 15,
    "orientation": "south",
    "needs_school": True,
    "needs_transit": True,
    "needs_hospital": True,
    "needs_commerce": True,
}
PERFECT_LISTING = {
    "district": "滨江区",
    "rooms": 3,
    "built_area": "98.50",
    "total_price": "320",
    "floor": 8,
    "orientation": "south",
    "near_school": True,
    "school_names": "滨江一小",
    "near_transit": True,
    "near_hospital": True,
    "near_commerce": True,
}


@pytest.fixture
def register(p):
    counter = iter(range(1, 10_000))

    def _register(actor=None, *, needs=None, **extra):
        number = next(counter)
        actor = actor or p.agent
        customer = customer_register(
            actor=actor,
            name=f"客户{number}",
            phone=f"1370000{number:04d}",
            source="walk_in",
            consent_channel="face_to_face",
            **extra,
        )
        if needs is not None:
            needs_update(actor=actor, customer=customer, **needs)
        return Customer.objects.select_related("needs").get(pk=customer.pk)

    return _register


@pytest.fixture
def customer(register):
    return register(needs=PERFECT_NEEDS)


def english(matches):
    return [(match.score, [text for _ok, text in match.reasons]) for match in matches]


# --- customer → listings ----------------------------------------------------------------------------


def test_a_perfect_match_ranks_first_with_score_100_and_every_reason_met(p, customer, make_listing):
    make_listing(p.agent2, **{**PERFECT_LISTING, "total_price": "380"})
    make_listing(p.agent2, **{**PERFECT_LISTING, "district": "西湖区"})
    perfect = make_listing(p.agent3, **PERFECT_LISTING)
    make_listing(p.agent2, **{**PERFECT_LISTING, "rooms": 2, "orientation": "north"})

    matches = listings_for_customer(customer, p.agent)

    assert [match.listing for match in matches][:1] == [perfect]
    best = matches[0]
    assert best.score == 100
    assert all(ok for ok, _text in best.reasons)
    assert len(best.reasons) == 10  # every criterion was stated, every one is listed
    assert all(match.score < 100 for match in matches[1:])
    assert len(matches) == 4


def test_a_miss_is_explained_with_both_sides_and_by_how_much(p, customer, make_listing):
    dear = make_listing(p.agent, **{**PERFECT_LISTING, "total_price": "380"})
    elsewhere = make_listing(p.agent, **{**PERFECT_LISTING, "district": "西湖区"})
    small = make_listing(p.agent, **{**PERFECT_LISTING, "built_area": "80", "orientation": "west"})
    far = make_listing(p.agent, **{**PERFECT_LISTING, "near_transit": False, "floor": 17, "total_floors": 18})

    with translation.override("en"):
        found = {match.listing: match for match in listings_for_customer(customer, p.agent)}

    assert (False, "Total price 380 ×10k CNY is 30 ×10k CNY over the budget 300–350 ×10k CNY") in found[dear].reasons
    assert (False, "In 西湖区, not in the preferred districts 滨江区") in found[elsewhere].reasons
    assert (False, "Area 80㎡ is 10㎡ below the wanted 90–110㎡") in found[small].reasons
    assert (False, "Faces West; South wanted") in found[small].reasons
    assert (False, "No metro or transit nearby on record") in found[far].reasons
    assert (False, "Floor 17 of 18 is above the wanted floors 5–15") in found[far].reasons
    assert (True, "Total price 320 ×10k CNY is within the budget 300–350 ×10k CNY") in found[far].reasons
    for listing in (dear, elsewhere, small, far):
        assert 0 < found[listing].score < 100
        assert found[listing].misses
    # The district weighs 15 of 100: a perfect listing elsewhere scores exactly 85.
    assert found[elsewhere].score == 85


def test_unstated_preferences_are_neutral_and_say_so(p, register, make_listing):
    budget_only = register(needs={"price_min": 300, "price_max": 350})
    fits = make_listing(p.agent, total_price="320", orientation="north", district="西湖区", rooms=1)
    dear = make_listing(p.agent, total_price="380")

    with translation.override("en"):
        matches = listings_for_customer(budget_only, p.agent)

    assert [match.listing for match in matches] == [fits, dear]
    assert matches[0].score == 100  # only the budget was stated; orientation, district, rooms do not count
    neutral = [reason.text for reason in matches[0].details if reason.neutral]
    assert "No orientation preference set" in neutral
    assert "No district preference set" in neutral
    assert "No facility requirements set" in neutral
    assert all(reason.ok for reason in matches[0].details)
    assert 0 < matches[1].score < 100


def test_only_available_listings_are_matched(p, customer, make_listing):
    available = make_listing(p.agent, **PERFECT_LISTING)
    for status in ("reserved", "off_market", "sold"):
        listing = make_listing(p.agent, **PERFECT_LISTING)
        listing_change_status(actor=p.agent, listing=listing, to_status=status, reason="测试")

    assert [match.listing for match in listings_for_customer(customer, p.agent)] == [available]


def test_listings_far_from_the_price_or_bedrooms_are_not_candidates(p, customer, make_listing):
    near = make_listing(p.agent, **{**PERFECT_LISTING, "total_price": "400", "rooms": 4})  # 350 × 1.15 = 402.5
    make_listing(p.agent, **{**PERFECT_LISTING, "total_price": "405"})
    make_listing(p.agent, **{**PERFECT_LISTING, "total_price": "250"})  # 300 × 0.85 = 255
    make_listing(p.agent, **{**PERFECT_LISTING, "rooms": 5})

    assert [match.listing for match in listings_for_customer(customer, p.agent)] == [near]


def test_newer_listings_elsewhere_do_not_crowd_out_the_preferred_districts(p, customer, make_listing, monkeypatch):
    monkeypatch.setattr(matching, "CANDIDATES", 3)
    perfect = make_listing(p.agent, **{**PERFECT_LISTING, "district": "滨江"})  # the oldest; "滨江" is "滨江区"
    newer = [make_listing(p.agent, **{**PERFECT_LISTING, "district": "西湖区"}) for _index in range(5)]

    matches = listings_for_customer(customer, p.agent)

    assert matches[0].listing == perfect and matches[0].score == 100
    assert [match.listing for match in matches[1:]] == newer[::-1][:3]  # the newest three elsewhere


def test_the_budget_on_the_file_counts_when_the_needs_name_no_price(p, register, make_listing):
    customer = register(budget_min=200, budget_max=250, needs={"rooms_min": 3, "rooms_max": 3})
    fits = make_listing(p.agent, total_price="230")
    make_listing(p.agent, total_price="320")

    matches = listings_for_customer(customer, p.agent)

    assert [match.listing for match in matches] == [fits]
    assert matches[0].score == 100


def test_renters_and_customers_without_needs_get_no_listings(p, register, make_listing):
    make_listing(p.agent)
    assert listings_for_customer(register(needs={"purpose": "rent", "price_max": 400}), p.agent) == []
    assert listings_for_customer(register(), p.agent) == []


# --- listing → customers ----------------------------------------------------------------------------


def test_customers_for_listing_never_leave_the_viewer_scope(p, register, make_listing):
    mine = register(p.agent, needs=PERFECT_NEEDS)
    theirs = register(p.agent2, needs=PERFECT_NEEDS)
    other_branch = register(p.agent3, needs=PERFECT_NEEDS)
    listing = make_listing(p.agent3, **PERFECT_LISTING)

    assert [match.customer for match in customers_for_listing(listing, p.agent)] == [mine]
    assert [match.customer for match in customers_for_listing(listing, p.agent2)] == [theirs]
    assert {match.customer for match in customers_for_listing(listing, p.lead)} == {mine}  # team A1 only
    assert {match.customer for match in customers_for_listing(listing, p.manager)} == {mine, theirs}
    assert other_branch not in {match.customer for match in customers_for_listing(listing, p.manager)}
    assert customers_for_listing(listing, UserFactory(username="roleless", branch=p.branch_a)) == []


def test_customers_for_listing_ranks_by_fit_and_skips_lost_renters_and_far_budgets(p, register, make_listing):
    perfect = register(needs=PERFECT_NEEDS)
    elsewhere = register(needs={**PERFECT_NEEDS, "districts": ["西湖区"]})
    by_budget = register(budget_min=300, budget_max=330, needs={"rooms_min": 3})
    register(needs={**PERFECT_NEEDS, "price_min": 150, "price_max": 200})  # 320 > 200 × 1.15
    register(needs={**PERFECT_NEEDS, "purpose": "rent"})
    register(needs={**PERFECT_NEEDS, "rooms_min": 1, "rooms_max": 1})  # 3 bedrooms > 1 + 1
    lost = register(needs=PERFECT_NEEDS)
    customer_change_stage(actor=p.agent, customer=lost, to_stage="lost", lost_reason="已在别处购房")
    listing = make_listing(p.agent, **PERFECT_LISTING)

    matches = customers_for_listing(listing, p.agent)

    assert [match.customer for match in matches] == [perfect, by_budget, elsewhere]
    assert [match.score for match in matches][:2] == [100, 100]
    assert matches[0].weight > matches[1].weight  # the fuller profile first among equals
    assert matches[0].customer.phone_masked.endswith(matches[0].customer.phone[-4:])  # fully loaded


def test_a_listing_off_the_market_matches_no_customer(p, customer, make_listing):
    listing = make_listing(p.agent, **PERFECT_LISTING)
    listing = listing_change_status(actor=p.agent, listing=listing, to_status="reserved", reason="客户已定")
    assert customers_for_listing(listing, p.agent) == []


# --- recommending -----------------------------------------------------------------------------------


def test_recommend_writes_the_communication_extends_protection_and_audits(p, customer, make_listing):
    listing = make_listing(p.agent3, **PERFECT_LISTING, title="滨江花园 8 号 三室两厅")
    earlier = timezone.now() + dt.timedelta(days=1)
    Customer.objects.filter(pk=customer.pk).update(protected_until=earlier)

    with translation.override("en"):
        communication = listing_recommend(actor=p.agent, customer=customer, listing=listing, note="客户想周末看房")

    communication.refresh_from_db()
    assert communication.customer == customer and communication.channel == "face_to_face"
    assert communication.summary.startswith("Recommended listing: 滨江花园 8 号 三室两厅, total price 320 ×10k CNY")
    assert communication.summary.endswith("客户想周末看房")
    assert "32,487 CNY/㎡" in communication.info_core and "98.5㎡" in communication.info_core
    assert "3室2厅1卫" in communication.info_core
    assert communication.materials == "Listing details / floor plan"
    assert Customer.objects.get(pk=customer.pk).protected_until > earlier + dt.timedelta(days=20)
    event = AuditEvent.objects.get(action="listings.listing.recommended")
    assert event.actor == p.agent and event.target_id == str(customer.pk)
    assert event.after["listing"] == listing.pk and event.after["communication"] == communication.pk
    assert AuditEvent.objects.filter(action="customers.communication.recorded").count() == 1


def test_recommend_is_refused_without_change_permission_out_of_scope_or_when_unavailable(p, customer, make_listing):
    listing = make_listing(p.agent, **PERFECT_LISTING)
    with pytest.raises(ApplicationError) as refused:
        listing_recommend(actor=p.legal, customer=customer, listing=listing)
    assert refused.value.status == 403
    with pytest.raises(ApplicationError) as refused:
        listing_recommend(actor=p.agent2, customer=customer, listing=listing)
    assert refused.value.status == 404
    listing_change_status(actor=p.agent, listing=listing, to_status="sold", reason="已成交")
    with pytest.raises(ApplicationError) as refused:
        listing_recommend(actor=p.agent, customer=customer, listing=listing)
    assert refused.value.code == "listing.not_available"
    assert not Communication.objects.exists()
    assert not AuditEvent.objects.filter(action="listings.listing.recommended").exists()


# --- the pages --------------------------------------------------------------------------------------


def matches_url(customer) -> str:
    return reverse("listings:customer-matches", args=[customer.pk])


def recommend_url(customer, listing) -> str:
    return reverse("listings:recommend", args=[customer.pk, listing.pk])


def test_the_customer_page_loads_the_matching_section(p, login, customer):
    response = login(p.agent).get(reverse("customers:customer-detail", args=[customer.pk]))
    assert response.status_code == 200
    assert f'hx-get="{matches_url(customer)}"' in response.content.decode()
    assert 'hx-trigger="load"' in response.content.decode()


def test_the_section_shows_ranked_listings_with_reasons_and_recommend_buttons(p, login, customer, make_listing):
    make_listing(p.agent, **{**PERFECT_LISTING, "district": "西湖区"})
    perfect = make_listing(p.agent, **PERFECT_LISTING)

    response = login(p.agent).get(matches_url(customer), headers={"HX-Request": "true"})

    body = response.content.decode()
    assert response.status_code == 200 and "<html" not in body
    assert body.count('data-testid="match-row"') == 2
    assert body.index(f'data-listing="{perfect.pk}"') < body.index('data-testid="reason-miss"')
    assert reverse("listings:listing-detail", args=[perfect.pk]) in body
    assert recommend_url(customer, perfect) in body
    assert "HX-Request" in response["Vary"]


def test_the_full_page_and_the_read_only_view_of_legal(p, login, customer, make_listing):
    make_listing(p.agent, **PERFECT_LISTING)
    page = login(p.agent).get(matches_url(customer))
    assert page.status_code == 200 and "<html" in page.content.decode()
    legal = login(p.legal).get(matches_url(customer), headers={"HX-Request": "true"})
    assert legal.status_code == 200
    assert 'data-testid="match-row"' in legal.content.decode()
    assert 'data-testid="recommend-button"' not in legal.content.decode()


def test_matching_pages_refuse_the_anonymous_the_roleless_and_out_of_scope(p, client, login, customer, make_listing):
    listing = make_listing(p.agent, **PERFECT_LISTING)
    assert client.get(matches_url(customer)).status_code == 302
    assert client.post(recommend_url(customer, listing)).status_code == 302
    assert login(UserFactory(username="roleless", branch=p.branch_a)).get(matches_url(customer)).status_code == 403
    assert login(p.agent2).get(matches_url(customer)).status_code == 404
    assert login(p.agent2).post(recommend_url(customer, listing)).status_code == 404
    assert login(p.legal).post(recommend_url(customer, listing)).status_code == 403
    assert login(p.agent).get(recommend_url(customer, listing)).status_code == 405
    assert not Communication.objects.exists()


def test_one_click_recommend_turns_the_button_into_recommended(p, login, customer, make_listing):
    listing = make_listing(p.agent, **PERFECT_LISTING)
    client = login(p.agent)

    response = client.post(recommend_url(customer, listing), {"channel": "phone"}, headers={"HX-Request": "true"})

    assert response.status_code == 200
    assert 'data-testid="recommended"' in response.content.decode()
    assert 'data-testid="recommend-button"' not in response.content.decode()
    assert Communication.objects.get(customer=customer).channel == "phone"
    # Reloaded later, the section remembers it and offers to recommend again.
    section = client.get(matches_url(customer), headers={"HX-Request": "true"}).content.decode()
    assert 'data-testid="recommended"' in section and 'data-testid="recommend-button"' in section


def test_recommend_without_htmx_redirects_with_a_message_and_shows_refusals(p, login, customer, make_listing):
    listing = make_listing(p.agent, **PERFECT_LISTING)
    client = login(p.agent)
    response = client.post(recommend_url(customer, listing), follow=True)
    assert response.redirect_chain[-1][0] == reverse("customers:customer-detail", args=[customer.pk])
    assert Communication.objects.count() == 1
    listing_change_status(actor=p.agent, listing=listing, to_status="sold", reason="已成交")
    refused = client.post(recommend_url(customer, listing), headers={"HX-Request": "true"})
    assert refused.status_code == 200 and 'data-testid="recommend-error"' in refused.content.decode()
    assert Communication.objects.count() == 1


def _section_queries(client, customer) -> tuple[int, int]:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(matches_url(customer), headers={"HX-Request": "true"})
    assert response.status_code == 200
    return len(captured.captured_queries), response.content.decode().count('data-testid="match-row"')


def test_the_section_query_count_does_not_grow_with_the_candidates(p, login, register, make_listing):
    few = register(needs={**PERFECT_NEEDS, "price_min": 100, "price_max": 120})
    many = register(needs=PERFECT_NEEDS)
    for _index in range(5):
        make_listing(p.agent, **{**PERFECT_LISTING, "total_price": "110"})
    for _index in range(50):
        make_listing(p.agent2, **PERFECT_LISTING)
    client = login(p.agent)
    client.post(recommend_url(many, make_listing(p.agent, **PERFECT_LISTING)), headers={"HX-Request": "true"})
    _section_queries(client, few)  # warm up session and permission caches

    few_queries, few_rows = _section_queries(client, few)
    many_queries, many_rows = _section_queries(client, many)

    assert (few_rows, many_rows) == (5, 10)  # 5 and 51 candidates scored; at most the best 10 shown
    assert few_queries == many_queries <= 12  # session, user, permissions, scope, then 3 of matching
