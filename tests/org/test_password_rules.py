"""A password must not be the username dressed up (issue #9 defect 12; R5.2)."""

import pytest
from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.urls import reverse

from anju.core.errors import ValidationFailed
from anju.core.models import AuditEvent
from anju.org.services import users
from anju.testing import PASSWORD

pytestmark = pytest.mark.django_db


def change_own(client, new_password):
    return client.post(
        reverse("password-change"),
        {"old_password": PASSWORD, "new_password": new_password, "confirm": new_password},
    )


def test_both_username_rules_are_configured():
    names = [validator["NAME"] for validator in settings.AUTH_PASSWORD_VALIDATORS]
    assert "django.contrib.auth.password_validation.UserAttributeSimilarityValidator" in names
    assert "anju.org.validators.NotBuiltFromUsername" in names
    similarity = next(v for v in settings.AUTH_PASSWORD_VALIDATORS if v["NAME"].endswith("SimilarityValidator"))
    assert "username" in similarity["OPTIONS"]["user_attributes"]


@pytest.mark.parametrize("password", ["qaqaqaqaqa", "QAQAQAQAQA", "qa2026qa2026", "qa!qa!qa!qa!", "2026-qa-2026"])
def test_the_username_repeated_or_padded_is_refused(p, password):
    with pytest.raises(ValidationError) as exc:
        validate_password(password, p.qa)
    assert any(error.code == "password_built_from_username" for error in exc.value.error_list)


@pytest.mark.parametrize("password", ["agent2026!!", "Agent-1234567", "12345agentagent"])
def test_a_longer_username_with_digits_is_refused(p, password):
    with pytest.raises(ValidationError):
        validate_password(password, p.agent)


@pytest.mark.parametrize("password", ["qa-Binjiang-Lake-26", "Quality-Audit-2026", "Xihu-Lake-2026!"])
def test_a_password_with_words_of_its_own_passes(p, password):
    validate_password(password, p.qa)


def test_the_rule_is_about_the_users_own_name(p):
    validate_password("qaqaqaqaqa", p.agent)


def test_the_password_change_page_refuses_the_username_repeated(p, login):
    response = change_own(login(p.qa), "qaqaqaqaqa")
    assert response.status_code == 200
    errors = response.context["form"].errors["new_password"]
    assert any("用户名" in str(error) for error in errors)
    p.qa.refresh_from_db()
    assert p.qa.check_password(PASSWORD)
    assert not AuditEvent.objects.filter(action="org.user.password_changed").exists()


def test_the_password_change_page_accepts_a_real_password(p, login):
    response = change_own(login(p.qa), "Quality-Audit-2026")
    assert response.status_code == 302
    p.qa.refresh_from_db()
    assert p.qa.check_password("Quality-Audit-2026")


def test_an_administrator_cannot_set_the_username_repeated_either(p):
    with pytest.raises(ValidationFailed) as exc:
        users.user_reset_password(actor=p.admin, user=p.qa, new_password="qaqaqaqaqa")
    assert exc.value.code == "user.weak_password"
    assert "new_password" in exc.value.fields
    p.qa.refresh_from_db()
    assert p.qa.check_password(PASSWORD)
    users.user_reset_password(actor=p.admin, user=p.qa, new_password="Quality-Audit-2026")


def test_a_new_account_named_in_its_password_is_refused(p):
    with pytest.raises(ValidationFailed) as exc:
        users.user_create(
            actor=p.admin,
            username="zhangwei",
            display_name="张伟",
            password="zhangwei2026",
            branch=p.branch_a,
        )
    assert exc.value.code == "user.weak_password"
