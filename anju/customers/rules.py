"""Per-branch customer rules and the small validators the services share."""

from __future__ import annotations

import datetime as dt
import re

from django.utils import timezone
from django.utils.translation import gettext as _

from anju.core.crypto import blind_index
from anju.core.errors import ValidationFailed
from anju.core.masking import normalise_phone

from .models import BranchCustomerSettings

MOBILE = re.compile(r"^1[3-9]\d{9}$")
ID_WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
ID_CHECK = "10X98765432"


def settings_for(branch) -> BranchCustomerSettings:
    """The branch's rules, or the defaults when none were saved (not written: reads stay reads)."""
    found = BranchCustomerSettings.objects.filter(branch=branch).first()
    return found or BranchCustomerSettings(branch=branch)


def protection_end(branch, *, start: dt.datetime | None = None) -> dt.datetime:
    return (start or timezone.now()) + dt.timedelta(days=settings_for(branch).protection_days)


def clean_mobile(value: str, field: str = "phone") -> str:
    """A mainland mobile number (11 digits, 1[3-9]…), normalised; anything else is refused."""
    digits = normalise_phone(value or "")
    if not MOBILE.match(digits):
        raise ValidationFailed(
            "customer.bad_phone",
            # No example number in the message: it would read as a leaked phone (issue #9).
            _("Enter a mainland mobile number: 11 digits starting with 1."),
            {field: [_("Enter a mainland mobile number: 11 digits starting with 1.")]},
        )
    return digits


def id_number_valid(value: str) -> bool:
    """GB 11643-1999: 17 digits + a check character computed with ISO 7064 MOD 11-2."""
    if not re.fullmatch(r"\d{17}[\dX]", value):
        return False
    try:
        dt.date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
    except ValueError:
        return False
    total = sum(int(digit) * weight for digit, weight in zip(value[:17], ID_WEIGHTS, strict=True))
    return ID_CHECK[total % 11] == value[17]


def clean_id_number(value: str) -> str:
    normalised = (value or "").strip().upper().replace(" ", "")
    if not id_number_valid(normalised):
        raise ValidationFailed(
            "customer.bad_id_number",
            _("The ID-card number is not valid (18 characters with a correct check digit)."),
            {"id_number": [_("The ID-card number is not valid (18 characters with a correct check digit).")]},
        )
    return normalised


def phone_index(digits: str) -> str:
    return blind_index(digits, purpose="customer.phone")


def id_number_index(value: str) -> str:
    return blind_index(value, purpose="customer.id_number")


# --- the reception desk ---------------------------------------------------------------------------

MANAGE_ROTATION = "customers.manage_rotation"


def manages_rotation(user) -> bool:
    """Runs the reception rotation (R6.1.1, issue #9): sets the roster, skips or reassigns anyone's turn or
    visitor and acts on any agent's visitor. Team leads and branch managers hold it."""
    return user.has_perm(MANAGE_ROTATION)


def works_visit(user, visit) -> bool:
    """The visitor is the user's to receive: assigned to them, received by them, or they run the rotation."""
    return user.pk in (visit.assigned_to_id, visit.received_by_id) or manages_rotation(user)


def may_mark_left(user, visit) -> bool:
    """Who may record that a waiting visitor left: whoever works the visit, or the desk user who registered a
    visitor nobody was given yet (no agent's visitor is touched then)."""
    return works_visit(user, visit) or (visit.assigned_to_id is None and visit.registered_by_id == user.pk)


def may_act_on_turn(user, agent) -> bool:
    """An agent may pass their own turn or step out of the rotation; doing it to a colleague takes the rotation
    permission."""
    return user.pk == agent.pk or manages_rotation(user)


def rotation_day(at: dt.datetime | None = None) -> dt.date:
    """The rotation runs per local calendar day (Asia/Shanghai)."""
    return timezone.localdate(at) if at is not None else timezone.localdate()
