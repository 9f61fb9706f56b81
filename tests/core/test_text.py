"""The one cleaning rule for typed reasons (core.text, issue #9 defect 5, R5.2.2): text that only looks filled
in — invisible characters, spaces, punctuation, digits — is empty; what is stored is the cleaned text."""

from __future__ import annotations

import pytest
from django.utils import translation

from anju.core.errors import ValidationFailed
from anju.core.models import AuditEvent
from anju.core.text import clean_text, is_meaningful, meaningful_chars, require_reason
from anju.customers.services.customers import customer_change_stage, customer_register
from anju.customers.services.ownership import customer_transfer, pool_release
from anju.listings.services.listings import listing_change_status, listing_create
from anju.org.services.users import user_set_status
from tests.helpers import listing_fields

ZWSP, ZWJ, BOM, LRM, RLM, RLO, PDF = "\u200b", "\u200d", "\ufeff", "\u200e", "\u200f", "\u202e", "\u202c"
IDEOGRAPHIC_SPACE, NBSP, HANGUL_FILLER = "\u3000", "\u00a0", "\u3164"


@pytest.mark.parametrize(
    ("raw", "cleaned"),
    [
        (ZWSP + ZWSP, ""),
        ("  ", ""),
        (f"{IDEOGRAPHIC_SPACE}{NBSP}\t\n", ""),
        (HANGUL_FILLER * 4, ""),
        ("a b", "a b"),
        (f"{IDEOGRAPHIC_SPACE}请{IDEOGRAPHIC_SPACE}核对  号码\n", "请 核对 号码"),
        (f"{RLO}核{ZWJ}对{LRM}号{RLM}码{PDF}{BOM}", "核对号码"),
        ("ｃｈｅｃｋ　１２", "ｃｈｅｃｋ １２"),  # full-width characters are kept, the full-width space is a space
        ("业主降价，电话确认（已核实）", "业主降价，电话确认（已核实）"),  # Chinese punctuation stays as typed
        ("call\x00back", "callback"),
        (None, ""),
    ],
)
def test_clean_text(raw, cleaned):
    assert clean_text(raw) == cleaned


@pytest.mark.parametrize(
    ("text", "count"),
    [
        ("....", 0),
        ("1234", 0),
        ("１２３４", 0),
        ("a b", 2),
        ("ｃｈｅｃｋ", 5),
        ("请核对号码", 5),
        (f"{ZWSP}回访{ZWSP}客户", 4),
        ("核对 1380000 号码", 4),
    ],
)
def test_only_letters_and_cjk_characters_count(text, count):
    assert meaningful_chars(text) == count


@pytest.mark.parametrize(
    ("text", "minimum", "meaningful"),
    [
        ("请核对号码", 4, True),
        ("回电确认", 4, True),
        ("call back", 4, True),
        ("回访", 4, False),
        ("abc", 4, False),
        ("aaaa", 4, False),  # one letter repeated says nothing
        ("哈哈哈哈", 4, False),
        ("回访", 2, True),
        ("好好", 2, False),
        ("....", 2, False),
        (ZWSP * 6, 2, False),
        (f"a{ZWSP}{ZWSP}{ZWSP}b", 4, False),  # invisible characters do not pad a reason
    ],
)
def test_is_meaningful(text, minimum, meaningful):
    assert is_meaningful(text, minimum=minimum) is meaningful


def test_require_reason_returns_the_cleaned_text():
    assert (
        require_reason(f"{RLM}请{IDEOGRAPHIC_SPACE}核对号码{ZWSP} ", code="x.reason_required", minimum=4)
        == "请 核对号码"
    )


@pytest.mark.parametrize("reason", [ZWSP + ZWSP, "....", "  ", "a b", "1234", f"{LRM}{RLM}{RLO}", "回访"])
def test_require_reason_refuses_with_the_callers_code_field_and_a_message_naming_the_minimum(reason):
    with translation.override("en"), pytest.raises(ValidationFailed) as refused:
        require_reason(reason, code="customer.lost_reason_required", field="lost_reason", minimum=4)
    error = refused.value
    assert (error.code, error.status) == ("customer.lost_reason_required", 422)
    assert list(error.fields) == ["lost_reason"]
    assert "at least 4 characters" in str(error.message)


def test_the_message_reads_naturally_in_chinese():
    with translation.override("zh-hans"), pytest.raises(ValidationFailed) as refused:
        require_reason("....", code="listing.reason_required", minimum=4)
    assert str(refused.value.message) == "请填写具体原因（至少 4 个字，数字、空格和标点不计）。"


# --- every typed reason goes through the rule -------------------------------------------------------------


REASON_CODES = [
    "customer.transfer_reason_required",
    "customer.release_reason_required",
    "customer.lost_reason_required",
    "listing.reason_required",
    "user.reason_required",
]


@pytest.fixture
def reason_services(p):
    """``code → prepare()``: each creates what a service works on and returns ``call(reason)`` (reveals aside)."""
    numbers = iter(range(1, 1000))

    def new_customer():
        number = next(numbers)
        return customer_register(
            actor=p.agent, name="张三", phone=f"1381234{number:04d}", source="walk_in", consent_channel="face_to_face"
        )

    def transfer():
        customer = new_customer()
        return lambda reason: customer_transfer(actor=p.manager, customer=customer, to_owner=p.agent2, reason=reason)

    def release():
        customer = new_customer()
        return lambda reason: pool_release(actor=p.agent, customer=customer, reason=reason)

    def lose():
        customer = new_customer()
        return lambda reason: customer_change_stage(
            actor=p.agent, customer=customer, to_stage="lost", lost_reason=reason
        )

    def take_off_market():
        listing = listing_create(actor=p.agent, **listing_fields(next(numbers)))
        return lambda reason: listing_change_status(
            actor=p.agent, listing=listing, to_status="off_market", reason=reason
        )

    def suspend():
        return lambda reason: user_set_status(actor=p.admin, user=p.agent2, status="suspended", reason=reason)

    return {
        "customer.transfer_reason_required": transfer,
        "customer.release_reason_required": release,
        "customer.lost_reason_required": lose,
        "listing.reason_required": take_off_market,
        "user.reason_required": suspend,
    }


@pytest.mark.django_db
@pytest.mark.parametrize("code", REASON_CODES)
@pytest.mark.parametrize("reason", [ZWSP + ZWSP, "....", " 好 "])
def test_other_typed_reasons_refuse_what_only_looks_filled(reason_services, code, reason):
    call = reason_services[code]()
    last = AuditEvent.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    with pytest.raises(ValidationFailed) as refused:
        call(reason)
    assert (refused.value.code, refused.value.status) == (code, 422)
    assert not AuditEvent.objects.filter(pk__gt=last).exists()


@pytest.mark.django_db
@pytest.mark.parametrize("code", REASON_CODES)
def test_other_typed_reasons_accept_two_letters_and_store_them_cleaned(reason_services, code):
    reason_services[code]()(f"{ZWSP}休假{IDEOGRAPHIC_SPACE}交接 ")
    assert AuditEvent.objects.latest("pk").reason == "休假 交接"
