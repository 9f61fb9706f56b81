"""A new password ends every API token and every other session (issue #9 defect 10; R5.1.2)."""

import pytest
from django.contrib.sessions.models import Session
from django.test import Client
from django.urls import reverse

from anju.core.models import AuditEvent
from anju.org.models import ApiToken, UserSession
from anju.org.services import auth as auth_services
from anju.org.services import users
from anju.testing import PASSWORD

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "Qiantang-River-2026!"
ME = "/api/v1/me"


def signed_in(user) -> Client:
    client = Client()
    response = client.post("/login/", {"username": user.username, "password": PASSWORD})
    assert response.status_code == 302
    return client


def bearer(raw: str):
    return Client().get(ME, HTTP_AUTHORIZATION=f"Bearer {raw}")


def change_own_password(client):
    return client.post(
        reverse("password-change"),
        {"old_password": PASSWORD, "new_password": NEW_PASSWORD, "confirm": NEW_PASSWORD},
    )


def test_changing_ones_password_ends_old_tokens_and_other_sessions_but_not_this_one(p):
    _token, raw = auth_services.token_create(actor=p.agent, name="crm")
    _second, raw2 = auth_services.token_create(actor=p.agent, name="report")
    assert bearer(raw).status_code == 200
    here, elsewhere = signed_in(p.agent), signed_in(p.agent)
    elsewhere_key = elsewhere.session.session_key

    response = change_own_password(here)

    assert response.status_code == 302
    for old in (raw, raw2):
        refused = bearer(old)
        assert refused.status_code == 401
        assert refused.json()["error"]["code"] == "not_authenticated"
    assert not ApiToken.objects.filter(user=p.agent, revoked_at__isnull=True).exists()
    assert not Session.objects.filter(session_key=elsewhere_key).exists()
    assert elsewhere.get(ME).status_code == 401
    assert here.get(ME).status_code == 200  # the session the change was made from stays
    assert UserSession.objects.filter(user=p.agent, session_key=here.session.session_key).exists()
    event = AuditEvent.objects.get(action="org.user.password_changed", actor=p.agent)
    assert event.after == {"tokens_revoked": 2, "sessions_ended": 1}


def test_a_token_issued_after_the_change_works(p):
    change_own_password(signed_in(p.agent))
    _token, raw = auth_services.token_create(actor=p.agent, name="after")
    assert bearer(raw).status_code == 200


def test_without_a_password_change_tokens_and_sessions_live_on(p):
    _token, raw = auth_services.token_create(actor=p.agent, name="crm")
    elsewhere = signed_in(p.agent)
    refused = signed_in(p.agent).post(
        reverse("password-change"),
        {"old_password": "not-my-password", "new_password": NEW_PASSWORD, "confirm": NEW_PASSWORD},
    )
    assert refused.status_code == 200 and refused.context["form"].errors["old_password"]
    assert bearer(raw).status_code == 200
    assert elsewhere.get(ME).status_code == 200
    # Another user's new password leaves this user's token alone.
    users.password_change(user=p.agent2, old_password=PASSWORD, new_password=NEW_PASSWORD)
    assert bearer(raw).status_code == 200


def test_an_administrators_reset_ends_the_users_tokens_and_is_audited_with_the_count(p, login):
    _token, raw = auth_services.token_create(actor=p.agent, name="crm")
    response = login(p.admin).post(
        reverse("org:user-password", args=[p.agent.pk]), {"new_password": NEW_PASSWORD, "confirm": NEW_PASSWORD}
    )
    assert response.status_code == 302, response.context and response.context["form"].errors
    assert bearer(raw).status_code == 401
    event = AuditEvent.objects.get(action="org.user.password_reset")
    assert event.actor == p.admin and event.after["tokens_revoked"] == 1


def test_the_service_alone_also_revokes(p):
    """Any caller of the password services, not only the web page, ends the tokens."""
    _token, raw = auth_services.token_create(actor=p.agent, name="crm")
    users.password_change(user=p.agent, old_password=PASSWORD, new_password=NEW_PASSWORD)
    assert bearer(raw).status_code == 401
