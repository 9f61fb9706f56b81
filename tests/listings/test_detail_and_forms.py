"""The listing pages: collect and edit forms (edit needs a reason), status change, contact reveal and the
detail page with its history and matching tabs (R3.1.1, R3.1.2, R3.2.2)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.html import escape as html_escape

from anju.core.models import AuditEvent
from anju.customers.services.customers import customer_register, needs_update
from anju.listings.forms.listings import SECTIONS
from anju.listings.models import Listing, ListingChange
from anju.listings.services.listings import EDITABLE, listing_reverify, listing_update
from anju.listings.views.listing_detail import field_label, field_value
from anju.testing import UserFactory
from tests.helpers import as_user

pytestmark = pytest.mark.django_db

PHONE = "13911112222"
MASKED = "139****2222"


@pytest.fixture(autouse=True)
def _english(client):
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"


@pytest.fixture
def listing(p, make_listing):
    """The agent's resale listing (team A1, branch A): 320 ×10k CNY, 98.50 ㎡, fine finish, owner 139****2222."""
    return make_listing(p.agent, total_price="320", built_area="98.50", decoration="fine")


@pytest.fixture
def roleless(p):
    return UserFactory(username="roleless", branch=p.branch_a, team=p.team_a1)


def body(response) -> str:
    return response.content.decode()


def detail_url(listing) -> str:
    return reverse("listings:listing-detail", args=[listing.pk])


FORM = {
    "title": "翠苑小区 两室一厅 近地铁",
    "city": "杭州",
    "district": "西湖区",
    "community": "翠苑一区",
    "address": "文三路 88 号",
    "building_no": "12",
    "unit_no": "1",
    "room_no": "502",
    "floor": "5",
    "total_floors": "6",
    "built_area": "72.5",
    "usable_area": "60",
    "rooms": "2",
    "halls": "1",
    "baths": "1",
    "orientation": "south_north",
    "decoration": "simple",
    "right_type": "commodity",
    "right_term_years": "70",
    "certificate_status": "issued",
    "near_school": "on",
    "school_names": "文三街小学",
    "near_transit": "on",
    "facility_notes": "步行 5 分钟到地铁站",
    "total_price": "260",
    "tags": "学区，地铁, 学区",
    "contact_name": "钱女士",
    "contact_phone": "139 0000 1111",
}


def edit_data(listing: Listing, **changes) -> dict:
    """The edit form as the browser submits it: every field prefilled, the phone empty."""
    data = {name: value for name, value in FORM.items() if name in EDITABLE}
    for name in EDITABLE:
        value = getattr(listing, name)
        if isinstance(value, bool):
            if value:
                data[name] = "on"
            else:
                data.pop(name, None)
        elif name == "tags":
            data[name] = ", ".join(value)
        elif value is None:
            data[name] = ""
        else:
            data[name] = str(value)
    data["contact_phone"] = ""
    data.update(changes)
    return data


# --- collecting a listing -------------------------------------------------------------------------


def test_the_form_sections_hold_every_editable_field_once():
    names = [name for *_, fields in SECTIONS for name in fields]
    assert sorted(names) == sorted(EDITABLE)


def test_agent_collects_a_listing_through_the_form(client, p):
    response = as_user(client, p.agent).post(reverse("listings:listing-create"), FORM)

    listing = Listing.objects.get()
    assert response.status_code == 302 and response["Location"] == detail_url(listing)
    assert (listing.kind, listing.collector, listing.branch, listing.team) == ("resale", p.agent, p.branch_a, p.team_a1)
    assert str(listing.built_area) == "72.50" and str(listing.total_price) == "260.00"
    assert listing.unit_price == 35862
    assert listing.tags == ["学区", "地铁"]
    assert listing.near_school and listing.near_transit and not listing.near_hospital
    assert listing.contact_phone == "13900001111"
    assert AuditEvent.objects.filter(action="listings.listing.created", actor=p.agent).count() == 1


def test_the_create_form_is_grouped_and_phone_friendly(client, p):
    html = body(as_user(client, p.agent).get(reverse("listings:listing-create")))
    for section in ("location", "layout", "rights", "facilities", "price", "contact"):
        assert f'data-testid="section-{section}"' in html
    assert 'name="built_area" inputmode="decimal"' in html
    assert 'name="rooms" inputmode="numeric"' in html
    assert 'type="tel"' in html


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"built_area": "0"}, "built_area", "The built area must be greater than 0 ㎡."),
        ({"total_price": "-5"}, "total_price", "The price must be greater than 0."),
        ({"floor": "9", "total_floors": "6"}, "floor", "The floor cannot be above the building's total floors (6)."),
        ({"floor": "0"}, "floor", "There is no floor 0"),
        ({"usable_area": "80", "built_area": "72.5"}, "usable_area", "The usable area cannot exceed the built area."),
        ({"contact_phone": "12"}, "contact_phone", "Enter a mobile or landline number."),
        ({"built_area": "很大"}, "built_area", "Enter a number."),
        ({"title": ""}, "title", "This field is required."),
    ],
)
def test_invalid_input_shows_the_field_error_and_writes_nothing(client, p, changes, field, message):
    response = as_user(client, p.agent).post(reverse("listings:listing-create"), {**FORM, **changes})

    assert response.status_code == 200
    html = body(response)
    assert f'data-testid="error-{field}"' in html
    error = html.split(f'data-testid="error-{field}">', 1)[1].split("</div>", 1)[0]
    assert html_escape(message) in error
    assert not Listing.objects.exists()
    assert not AuditEvent.objects.filter(action__startswith="listings.").exists()


def test_view_only_roles_cannot_collect(client, p):
    assert as_user(client, p.cs).get(reverse("listings:listing-create")).status_code == 403
    assert as_user(client, p.legal).post(reverse("listings:listing-create"), FORM).status_code == 403
    assert not Listing.objects.exists()


def test_anonymous_is_sent_to_login(client, listing):
    for url in (reverse("listings:listing-create"), detail_url(listing)):
        response = client.get(url)
        assert response.status_code == 302 and "login" in response["Location"]


# --- editing with a reason ---------------------------------------------------------------------------


def test_edit_form_is_prefilled_and_never_shows_the_phone(client, p, listing):
    html = body(as_user(client, p.agent).get(reverse("listings:listing-edit", args=[listing.pk])))
    assert 'value="320.00"' in html and listing.title in html
    assert PHONE not in html and f'placeholder="{MASKED}"' in html
    assert 'data-testid="field-reason"' in html


def test_edit_without_a_reason_is_refused_and_changes_nothing(client, p, listing):
    response = as_user(client, p.agent).post(
        reverse("listings:listing-edit", args=[listing.pk]), edit_data(listing, total_price="300", reason="  ")
    )

    assert response.status_code == 200
    assert 'data-testid="error-reason"' in body(response)
    listing.refresh_from_db()
    assert str(listing.total_price) == "320.00"
    assert not ListingChange.objects.exists()


def test_edit_with_a_reason_records_the_exact_diff_and_shows_it_in_history(client, p, listing):
    as_user(client, p.agent)
    response = client.post(
        reverse("listings:listing-edit", args=[listing.pk]),
        edit_data(listing, total_price="300", decoration="luxury", built_area="98.5", reason="业主降价并重新装修"),
        follow=True,
    )

    change = ListingChange.objects.get()
    assert change.changes == {
        "total_price": {"before": "320.00", "after": "300.00"},
        "unit_price": {"before": 32487, "after": 30457},
        "decoration": {"before": "fine", "after": "luxury"},
    }
    assert change.reason == "业主降价并重新装修" and change.changed_by == p.agent
    listing.refresh_from_db()
    assert listing.contact_phone == PHONE  # the empty phone field kept the number
    html = body(response)
    assert response.redirect_chain[-1][0] == detail_url(listing)
    assert "Saved: 3 fields changed." in html
    history = html.split('data-testid="history"', 1)[1]
    assert "业主降价并重新装修" in history
    assert "Total price (10k CNY)" in history and "320.00" in history and "300.00" in history
    assert "Decoration" in history and "Fine finish" in history and "Luxury finish" in history
    assert "李置业" in history


def test_edit_without_any_change_records_nothing(client, p, listing):
    response = as_user(client, p.agent).post(
        reverse("listings:listing-edit", args=[listing.pk]), edit_data(listing, reason="核对无误"), follow=True
    )
    assert "Nothing was changed" in body(response)
    assert not ListingChange.objects.exists()


def test_edit_with_a_new_phone_logs_it_masked(client, p, listing):
    as_user(client, p.agent).post(
        reverse("listings:listing-edit", args=[listing.pk]),
        edit_data(listing, contact_phone="13700001234", reason="业主换号"),
    )
    change = ListingChange.objects.get()
    assert change.changes == {"contact_phone": {"before": MASKED, "after": "137****1234"}}


def test_only_those_who_manage_the_listing_may_edit(client, p, listing):
    url = reverse("listings:listing-edit", args=[listing.pk])
    assert as_user(client, p.agent2).get(url).status_code == 403
    assert as_user(client, p.agent3).post(url, edit_data(listing, reason="越权", total_price="1")).status_code == 403
    assert as_user(client, p.cs).get(url).status_code == 403
    assert as_user(client, p.lead).get(url).status_code == 200
    assert as_user(client, p.manager).get(url).status_code == 200
    assert not ListingChange.objects.exists()


# --- status -----------------------------------------------------------------------------------------


def test_status_change_needs_a_reason(client, p, listing):
    url = reverse("listings:listing-status", args=[listing.pk])
    response = as_user(client, p.agent).post(url, {"to_status": "off_market", "reason": ""})
    assert response.status_code == 200 and 'data-testid="error-reason"' in body(response)
    listing.refresh_from_db()
    assert listing.status == "available"

    response = client.post(url, {"to_status": "off_market", "reason": "业主暂不出售"})
    assert response.status_code == 302
    listing.refresh_from_db()
    assert listing.status == "off_market"
    change = ListingChange.objects.get()
    assert change.changes == {"status": {"before": "available", "after": "off_market"}}
    assert change.reason == "业主暂不出售"
    history = body(client.get(detail_url(listing))).split('data-testid="history"', 1)[1]
    assert "Status changed" in history and "Available" in history and "Off market" in history


def test_status_form_offers_only_allowed_moves(client, p, listing):
    as_user(client, p.agent).post(
        reverse("listings:listing-status", args=[listing.pk]), {"to_status": "sold", "reason": "已成交"}
    )
    response = client.post(
        reverse("listings:listing-status", args=[listing.pk]), {"to_status": "reserved", "reason": "x"}
    )
    assert response.status_code == 200 and 'data-testid="error-to_status"' in body(response)
    listing.refresh_from_db()
    assert listing.status == "sold"


# --- the contact --------------------------------------------------------------------------------------


def reveal(client, listing, *, reason="", htmx=True):
    headers = {"HTTP_HX_REQUEST": "true"} if htmx else {}
    return client.post(reverse("listings:listing-reveal", args=[listing.pk]), {"reason": reason}, **headers)


def test_legal_may_not_reveal(client, p, listing):
    assert reveal(as_user(client, p.legal), listing, reason="核对合同").status_code == 403
    assert not AuditEvent.objects.filter(action="listings.listing.contact_revealed").exists()


def test_anonymous_and_roleless_users_cannot_reveal(client, p, listing, roleless):
    assert reveal(client, listing, reason="x x").status_code == 302
    assert reveal(as_user(client, roleless), listing, reason="看看看").status_code == 403
    assert not AuditEvent.objects.filter(action="listings.listing.contact_revealed").exists()


def test_agent_with_a_reason_sees_the_number_and_it_is_audited(client, p, listing):
    response = reveal(as_user(client, p.agent), listing, reason="约业主看房")

    assert response.status_code == 200
    assert PHONE in body(response) and 'data-testid="revealed-contact"' in body(response)
    assert response["Cache-Control"] == "no-store"
    event = AuditEvent.objects.get(action="listings.listing.contact_revealed")
    assert event.actor == p.agent and event.reason == "约业主看房" and event.target_id == str(listing.pk)


def test_reveal_without_a_reason_returns_the_error_fragment(client, p, listing):
    response = reveal(as_user(client, p.agent), listing, reason=" ")

    assert response.status_code == 200  # HTMX swaps it in place
    html = body(response)
    assert 'data-testid="reveal-error"' in html and PHONE not in html and MASKED in html
    assert reveal(client, listing, htmx=False).status_code == 422
    assert not AuditEvent.objects.filter(action="listings.listing.contact_revealed").exists()


def test_reveal_rate_limit_shows_inline(client, p, listing, settings):
    settings.ANJU_REVEAL_LIMIT_PER_HOUR = 1
    as_user(client, p.agent)
    assert PHONE in body(reveal(client, listing, reason="约业主看房"))

    response = reveal(client, listing, reason="再看一次")
    assert response.status_code == 200
    html = body(response)
    assert 'data-testid="reveal-error"' in html and PHONE not in html
    assert reveal(client, listing, reason="再看一次", htmx=False).status_code == 429
    assert AuditEvent.objects.filter(action="listings.listing.contact_revealed").count() == 1


def test_the_detail_page_never_shows_the_contact_in_clear(client, p, listing):
    for user in p.all_users():
        html = body(as_user(client, user).get(detail_url(listing)))
        assert PHONE not in html, user
        assert MASKED in html
    assert "reveal-button" in body(as_user(client, p.agent).get(detail_url(listing)))
    assert "reveal-button" not in body(as_user(client, p.legal).get(detail_url(listing)))


# --- the detail page ----------------------------------------------------------------------------------


def test_anyone_with_a_role_sees_the_listing_but_users_without_one_get_404(client, p, listing, roleless):
    for user in p.all_users():
        assert as_user(client, user).get(detail_url(listing)).status_code == 200, user
    assert as_user(client, roleless).get(detail_url(listing)).status_code == 404


def test_detail_shows_the_record(client, p, make_listing):
    listing = make_listing(
        p.agent, total_price="300", built_area="100", mortgaged=True, near_school=True, school_names="学军小学"
    )
    html = body(as_user(client, p.cs).get(detail_url(listing)))
    assert listing.title in html
    assert 'data-testid="listing-status"' in html and "Available" in html
    assert "Resale" in html
    assert "300 ×10k CNY" in html and "30,000 CNY/㎡" in html
    assert "3室2厅1卫" in html and "100 ㎡" in html and "8 / 18" in html
    assert "South" in html and "Fine finish" in html
    assert 'data-testid="rights-warning"' in html and "学军小学" in html
    assert 'data-testid="facility-present"' in html
    assert 'data-testid="tab-history"' in html and 'data-testid="history-empty"' in html


def test_edit_and_status_buttons_only_for_those_who_manage_it(client, p, listing):
    for user, allowed in [(p.agent, True), (p.lead, True), (p.manager, True), (p.agent2, False), (p.cs, False)]:
        html = body(as_user(client, user).get(detail_url(listing)))
        assert ('data-testid="listing-edit"' in html) is allowed, user
        assert ('data-testid="listing-change-status"' in html) is allowed, user
        assert ('data-testid="listing-reverify"' in html) is allowed, user


def test_stale_listing_has_a_badge(client, p, listing):
    url = detail_url(listing)
    assert 'data-testid="stale-badge"' not in body(as_user(client, p.agent).get(url))
    Listing.objects.filter(pk=listing.pk).update(last_verified_at=timezone.now() - dt.timedelta(days=31))
    assert 'data-testid="stale-badge"' in body(client.get(url))


def test_re_verifications_appear_in_history(client, p, listing):
    listing_reverify(actor=p.agent, listing=listing, note="电话核实业主仍在售")
    history = body(as_user(client, p.cs).get(detail_url(listing))).split('data-testid="history"', 1)[1]
    assert 'data-testid="history-verification"' in history
    assert "Confirmed unchanged" in history and "电话核实业主仍在售" in history


def test_matching_tab_lists_customers_in_scope_with_reasons(client, p, listing):
    customer = customer_register(
        actor=p.agent, name="陈女士", phone="13700001111", source="walk_in", consent_channel="face_to_face"
    )
    needs_update(actor=p.agent, customer=customer, districts=["滨江区"], rooms_min=3, price_max=350)

    html = body(as_user(client, p.agent).get(detail_url(listing)))
    assert 'data-testid="tab-matching"' in html
    matching = html.split('id="matching"', 1)[1]
    assert "陈女士" in matching and reverse("customers:customer-detail", args=[customer.pk]) in matching
    assert 'data-testid="reason-ok"' in matching
    assert "陈女士" not in body(as_user(client, p.agent3).get(detail_url(listing)))  # another branch's customer


def test_matching_tab_is_hidden_from_users_who_cannot_see_customers(client, p, listing):
    from django.contrib.auth.models import Permission

    from anju.org.models import Role

    role = Role.objects.get(code="legal")
    role.permissions.remove(Permission.objects.get(codename="view_customer", content_type__app_label="customers"))
    html = body(as_user(client, p.legal).get(detail_url(listing)))
    assert 'data-testid="tab-history"' in html and 'data-testid="tab-matching"' not in html


def test_history_values_read_as_people_read_them():
    with translation.override("en"):
        assert field_value("total_price", "300") == field_value("total_price", "300.00") == "300.00"
        assert field_value("orientation", "south_north") == "South–north through"
        assert field_value("mortgaged", True) == "Yes"
        assert field_value("tags", ["学区", "地铁"]) == "学区、地铁"
        assert field_value("usable_area", None) == "—"
        assert field_value("photo", {"id": 1, "kind": "photo", "caption": ""}) == "Photo"
        assert field_label("built_area") == "Built area (㎡)" and field_label("photo") == "Photo / floor plan"


def test_detail_query_count_does_not_grow_with_the_history(client, p, listing, make_listing):
    other = make_listing(p.agent)
    for number in range(3):
        listing_update(actor=p.agent, listing=listing, reason=f"调价 {number}", total_price=str(300 - number))
    for number in range(20):
        listing_update(actor=p.agent, listing=other, reason=f"调价 {number}", total_price=str(300 - number))
    listing_reverify(actor=p.agent, listing=other, note="核实")
    as_user(client, p.agent)
    client.get(detail_url(listing))  # warm the session and permission caches alike for both

    counts = []
    for target in (listing, other):
        with CaptureQueriesContext(connection) as queries:
            assert client.get(detail_url(target)).status_code == 200
        counts.append(len(queries))
    assert counts[0] == counts[1]
    assert counts[1] <= 20


def test_a_re_price_points_to_the_customers_it_now_matches(client, p, listing):
    from anju.customers.services.customers import customer_register, needs_update

    customer = customer_register(
        actor=p.agent, name="张先生", phone="13700001111", source="walk_in", consent_channel="face_to_face"
    )
    needs_update(actor=p.agent, customer=customer, price_min=250, price_max=300, rooms_min=3, rooms_max=3)
    client.force_login(p.agent)
    data = edit_data(listing, total_price="290", reason="业主降价")
    response = client.post(reverse("listings:listing-edit", args=[listing.pk]), data, follow=True)
    shown = [str(message) for message in response.context["messages"]]
    assert any("1" in text and ("Matching customers" in text or "匹配客户" in text) for text in shown), shown
