"""Listing record, validation, change log with reasons, status and re-verification (R3.1.1, R3.1.2)."""

import pytest

from anju.core.errors import ApplicationError
from anju.core.models import AuditEvent
from anju.listings.models import Listing, ListingChange
from anju.listings.services.listings import listing_change_status, listing_reverify, listing_update

pytestmark = pytest.mark.django_db


def test_collector_owns_listing_and_unit_price_is_derived(p, make_listing):
    listing = make_listing(p.agent, total_price="300", built_area="100")
    assert listing.collector == p.agent and listing.branch == p.branch_a and listing.team == p.team_a1
    assert listing.unit_price == 30000
    assert listing.contact_phone_masked == "139****2222"
    event = AuditEvent.objects.get(action="listings.listing.created")
    assert event.after["contact_phone"] == "139****2222"


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"built_area": "0"}, "built_area"),
        ({"total_price": "-1"}, "total_price"),
        ({"floor": 20, "total_floors": 18}, "floor"),
        ({"usable_area": "120", "built_area": "100"}, "usable_area"),
    ],
)
def test_invalid_values_are_refused_with_a_field_message(p, make_listing, overrides, field):
    with pytest.raises(ApplicationError) as refused:
        make_listing(p.agent, **overrides)
    assert field in refused.value.fields
    assert Listing.objects.count() == 0


def test_an_edit_without_a_reason_is_refused(p, make_listing):
    listing = make_listing(p.agent)
    with pytest.raises(ApplicationError) as refused:
        listing_update(actor=p.agent, listing=listing, reason="  ", total_price="310")
    assert refused.value.code == "listing.reason_required"
    listing.refresh_from_db()
    assert str(listing.total_price) == "320.00"


def test_change_log_records_exact_field_diffs_and_cannot_be_altered(p, make_listing):
    listing = make_listing(p.agent, total_price="320", built_area="100")
    listing, change = listing_update(
        actor=p.agent, listing=listing, reason="业主降价", total_price="300", decoration="fine"
    )
    assert change.changes == {
        "total_price": {"before": "320.00", "after": "300.00"},
        "unit_price": {"before": 32000, "after": 30000},
    }
    assert change.reason == "业主降价" and change.changed_by == p.agent
    with pytest.raises(PermissionError):
        change.save()
    with pytest.raises(PermissionError):
        ListingChange.objects.filter(pk=change.pk).update(reason="x")
    with pytest.raises(PermissionError):
        change.delete()


def test_other_agents_cannot_edit_but_the_team_lead_can(p, make_listing):
    listing = make_listing(p.agent)
    with pytest.raises(ApplicationError) as refused:
        listing_update(actor=p.agent2, listing=listing, reason="越权", total_price="1")
    assert refused.value.status == 403
    listing_update(actor=p.lead, listing=listing, reason="主管核实后调整", total_price="310")


def test_status_change_needs_reason_and_follows_the_state_table(p, make_listing):
    listing = make_listing(p.agent)
    with pytest.raises(ApplicationError):
        listing_change_status(actor=p.agent, listing=listing, to_status="off_market", reason="")
    listing_change_status(actor=p.agent, listing=listing, to_status="off_market", reason="业主暂不出售")
    with pytest.raises(ApplicationError) as refused:
        listing_change_status(actor=p.agent, listing=listing, to_status="sold", reason="测试")
    assert refused.value.code == "listing.bad_status_change"


def test_reverify_confirms_or_updates(p, make_listing):
    listing = make_listing(p.agent)
    confirmed = listing_reverify(actor=p.agent, listing=listing, note="电话核实")
    assert confirmed.outcome == "confirmed" and confirmed.change is None
    updated = listing_reverify(actor=p.agent, listing=listing, note="业主调价", total_price="330")
    assert updated.outcome == "updated" and updated.change.reason == "业主调价"


def test_a_new_contact_number_with_the_same_mask_is_still_logged(p, make_listing):
    listing = make_listing(p.agent, contact_phone="13911112222")
    listing, change = listing_update(actor=p.agent, listing=listing, reason="业主换号", contact_phone="13999992222")
    assert change is not None
    assert change.changes["contact_phone"] == {"before": "139****2222", "after": "139****2222"}
    assert "13999992222" not in str(change.changes)


def test_only_those_who_manage_a_listing_may_reveal_its_owner_number(p, make_listing):
    from anju.listings.services.listings import listing_reveal_contact

    listing = make_listing(p.agent)
    with pytest.raises(ApplicationError) as refused:
        listing_reveal_contact(actor=p.agent2, listing=listing, reason="客户想看房")
    assert refused.value.code == "listing.reveal_not_yours" and "李置业" in str(refused.value.message)
    assert listing_reveal_contact(actor=p.lead, listing=listing, reason="核实房源") == "13911112222"


def test_prices_are_stored_and_logged_to_two_places(p, make_listing):
    listing = make_listing(p.agent, total_price="320")
    listing, change = listing_update(actor=p.agent, listing=listing, reason="业主降价", total_price="298")
    assert change.changes["total_price"] == {"before": "320.00", "after": "298.00"}
    _same, unchanged = listing_update(actor=p.agent, listing=listing, reason="重复提交", total_price="298.00")
    assert unchanged is None
