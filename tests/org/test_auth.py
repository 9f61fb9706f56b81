"""Login, logout, lockout, idle timeout, suspension and password rules (R1.1, R5.2)."""

import os
from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.contrib.sessions.models import Session
from django.core.exceptions import ValidationError
from django.test import Client
from django.utils import timezone

from anju.core.errors import ValidationFailed
from anju.core.models import AuditEvent
from anju.org.models import UserSession
from anju.org.services import auth as auth_services
from anju.org.services import users
from anju.testing import PASSWORD

pytestmark = pytest.mark.django_db

LOGIN_URL = "/login/"


def login(client, username, password=PASSWORD, **extra):
    return client.post(LOGIN_URL, {"username": username, "password": password}, **extra)


# --- the login page ----------------------------------------------------------------------------


def test_login_page_is_in_chinese_by_default(client):
    response = client.get(LOGIN_URL)
    assert response.status_code == 200
    assert response.wsgi_request.LANGUAGE_CODE == "zh-hans"
    content = response.content.decode()
    assert '<html lang="zh-hans">' in content
    assert 'method="post"' in content
    assert 'name="username"' in content
    assert 'name="password"' in content
    assert 'name="csrfmiddlewaretoken"' in content
    assert 'data-testid="login-submit"' in content


def test_login_page_follows_the_browser_language(client):
    response = client.get(LOGIN_URL, HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 200
    assert response.wsgi_request.LANGUAGE_CODE == "en"


def test_protected_pages_send_anonymous_users_to_login(client):
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"].startswith(LOGIN_URL)


# --- audit of logins -----------------------------------------------------------------------------


def test_successful_login_and_logout_are_audited(p, client):
    response = login(client, "agent")
    assert response.status_code == 302
    assert response.wsgi_request.user == p.agent
    event = AuditEvent.objects.get(action="auth.login")
    assert event.actor == p.agent
    assert event.source == "web"
    assert event.ip == "127.0.0.1"
    assert UserSession.objects.filter(user=p.agent, session_key=client.session.session_key).exists()

    response = client.post("/logout/")
    assert response.status_code == 302
    event = AuditEvent.objects.get(action="auth.logout")
    assert event.actor == p.agent
    assert not UserSession.objects.filter(user=p.agent).exists()
    assert client.get("/").status_code == 302


def test_failed_login_is_audited_without_the_password(p, client):
    response = login(client, "agent", "wrong-password")
    assert response.status_code == 200
    assert 'data-testid="form-errors"' in response.content.decode()
    assert not response.wsgi_request.user.is_authenticated
    event = AuditEvent.objects.get(action="auth.login_failed")
    assert event.actor is None
    assert event.actor_name == "agent"
    assert event.after == {"username": "agent"}
    assert event.source == "web"
    assert "wrong-password" not in str(event.after)
    assert not AuditEvent.objects.filter(action="auth.login").exists()


def test_suspended_user_cannot_log_in(p, client):
    users.user_set_status(actor=p.admin, user=p.agent, status="suspended", reason="调查中")
    response = login(client, "agent")
    assert response.status_code == 200
    assert not response.wsgi_request.user.is_authenticated
    assert AuditEvent.objects.filter(action="auth.login_failed", actor_name="agent").exists()


# --- lockout (django-axes: 5 failures per username + IP) --------------------------------------


def test_five_wrong_passwords_lock_the_login(p, client):
    for _attempt in range(4):
        assert login(client, "agent", "wrong-password").status_code == 200
    response = login(client, "agent", "wrong-password")
    assert response.status_code == 429
    content = response.content.decode()
    assert 'data-testid="lockout-message"' in content
    assert 'value="agent"' in content  # the form keeps the username
    # Still locked with the right password.
    response = login(client, "agent", PASSWORD)
    assert response.status_code == 429
    assert client.get("/").status_code == 302
    assert AuditEvent.objects.filter(action="auth.login_failed", actor_name="agent").count() == 6


def test_lockout_is_per_username_and_ip(p, client):
    for _attempt in range(5):
        login(client, "agent", "wrong-password")
    assert login(Client(), "agent", PASSWORD, REMOTE_ADDR="10.9.8.7").status_code == 302
    assert login(Client(), "agent2", PASSWORD).status_code == 302


def test_admin_unlock_then_login_works(p, client):
    for _attempt in range(5):
        login(client, "agent", "wrong-password")
    assert login(client, "agent", PASSWORD).status_code == 429

    cleared = auth_services.login_unlock(actor=p.admin, username="agent", ip_address="127.0.0.1")
    assert cleared == 1
    event = AuditEvent.objects.get(action="org.login.unlocked")
    assert event.actor == p.admin
    assert event.after["username"] == "agent"

    response = login(client, "agent", PASSWORD)
    assert response.status_code == 302
    assert response.wsgi_request.user == p.agent


def test_only_holders_of_unlock_login_may_unlock(p):
    from anju.core.errors import PermissionDeniedError

    with pytest.raises(PermissionDeniedError):
        auth_services.login_unlock(actor=p.manager, username="agent")
    assert not AuditEvent.objects.filter(action="org.login.unlocked").exists()


# --- idle timeout ----------------------------------------------------------------------------


def test_session_lasts_the_idle_timeout_and_slides_with_each_request(p, client):
    minutes = int(os.environ.get("ANJU_SESSION_IDLE_MINUTES", "30"))
    assert minutes == settings.SESSION_IDLE_MINUTES
    assert minutes * 60 == settings.SESSION_COOKIE_AGE
    assert settings.SESSION_SAVE_EVERY_REQUEST is True
    assert settings.SESSION_EXPIRE_AT_BROWSER_CLOSE is False

    response = login(client, "agent")
    assert int(response.cookies[settings.SESSION_COOKIE_NAME]["max-age"]) == minutes * 60

    key = client.session.session_key
    Session.objects.filter(session_key=key).update(expire_date=timezone.now() + timedelta(minutes=1))
    response = client.get("/api/v1/me")
    assert response.status_code == 200
    assert int(response.cookies[settings.SESSION_COOKIE_NAME]["max-age"]) == minutes * 60
    expire_date = Session.objects.get(session_key=key).expire_date
    assert expire_date > timezone.now() + timedelta(minutes=minutes - 1)


def test_expired_session_is_logged_out(p, client):
    login(client, "agent")
    assert client.get("/api/v1/me").status_code == 200
    session = client.session
    session.set_expiry(timezone.now() - timedelta(seconds=1))
    session.save()
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"].startswith(LOGIN_URL)
    assert client.get("/api/v1/me").status_code == 401


# --- suspension ends what is open ------------------------------------------------------------


def test_suspension_ends_an_open_session_at_once_and_revokes_tokens(p, client):
    other = Client()
    assert login(other, "agent").status_code == 302
    key = other.session.session_key
    assert other.get("/api/v1/me").status_code == 200
    token, _raw = auth_services.token_create(actor=p.agent, name="crm")

    users.user_set_status(actor=p.admin, user=p.agent, status="suspended", reason="违规操作")

    assert not Session.objects.filter(session_key=key).exists()
    assert not UserSession.objects.filter(user=p.agent).exists()
    response = other.get("/")
    assert response.status_code == 302
    assert response["Location"].startswith(LOGIN_URL)
    assert other.get("/api/v1/me").status_code == 401
    token.refresh_from_db()
    assert token.revoked_at is not None


def test_leaving_also_ends_sessions(p):
    other = Client()
    login(other, "agent2")
    users.user_set_status(actor=p.admin, user=p.agent2, status="left", reason="离职")
    assert other.get("/").status_code == 302
    assert login(Client(), "agent2").status_code == 200  # cannot log back in


def test_password_reset_by_admin_ends_sessions(p):
    other = Client()
    login(other, "agent")
    users.user_reset_password(actor=p.admin, user=p.agent, new_password="Binjiang-Reset-2026")
    assert other.get("/api/v1/me").status_code == 401
    assert login(Client(), "agent", "Binjiang-Reset-2026").status_code == 302


# --- password rules ---------------------------------------------------------------------------


def test_a_nine_character_password_is_refused(p):
    with pytest.raises(ValidationError) as exc:
        validate_password("Bj7#kq2Lm")
    assert any(error.code == "password_too_short" for error in exc.value.error_list)
    validate_password("Bj7#kq2Lm!")  # ten characters of the same kind pass


def test_a_common_password_is_refused(p):
    with pytest.raises(ValidationError) as exc:
        validate_password("qwertyuiop")
    assert any(error.code == "password_too_common" for error in exc.value.error_list)


def test_an_all_digit_password_is_refused(p):
    with pytest.raises(ValidationError) as exc:
        validate_password("4829105736")
    assert any(error.code == "password_entirely_numeric" for error in exc.value.error_list)


@pytest.mark.parametrize("weak", ["Bj7#kq2Lm", "password123"])
def test_password_change_applies_the_validators(p, weak):
    with pytest.raises(ValidationFailed) as exc:
        users.password_change(user=p.agent, old_password=PASSWORD, new_password=weak)
    assert exc.value.code == "user.weak_password"
    assert "new_password" in exc.value.fields
    p.agent.refresh_from_db()
    assert p.agent.check_password(PASSWORD)


def test_password_change_is_audited_and_the_new_password_works(p):
    users.password_change(user=p.agent, old_password=PASSWORD, new_password="Xihu-Lake-2026!")
    assert AuditEvent.objects.filter(action="org.user.password_changed", actor=p.agent).exists()
    assert login(Client(), "agent", "Xihu-Lake-2026!").status_code == 302


# --- guessing the current password on the password-change page (issue #9 defect 11) -------------


def guess_current_password(client, guess):
    new = "Xihu-Lake-2026!"
    return client.post("/account/password/", {"old_password": guess, "new_password": new, "confirm": new})


def test_wrong_current_passwords_lock_the_account_like_failed_logins(p, client):
    login(client, "agent")
    for _attempt in range(settings.AXES_FAILURE_LIMIT - 1):
        response = guess_current_password(client, "a-wrong-guess")
        assert response.status_code == 200
        assert response.context["form"].errors["old_password"]

    response = guess_current_password(client, "a-wrong-guess")

    assert response.status_code == 429
    assert 'data-testid="lockout-message"' in response.content.decode()
    assert client.get("/").status_code == 302  # logged out
    assert login(client, "agent", PASSWORD).status_code == 429  # and the login is locked too
    p.agent.refresh_from_db()
    assert p.agent.check_password(PASSWORD)
    assert AuditEvent.objects.filter(action="auth.login_failed", actor_name="agent").count() >= 5
    attempt = AccessAttempt.objects.get(username="agent")
    assert attempt.failures_since_start >= settings.AXES_FAILURE_LIMIT
    assert "a-wrong-guess" not in attempt.post_data and "Xihu-Lake" not in attempt.post_data

    admin = Client()
    admin.force_login(p.admin)
    page = admin.get("/org/lockouts/?locked=on")
    assert page.status_code == 200
    assert [attempt.username for attempt in page.context["page_obj"].object_list] == ["agent"]


def test_failed_logins_and_wrong_current_passwords_share_one_count(p, client):
    for _attempt in range(3):
        login(Client(), "agent", "wrong-password")
    login(client, "agent")  # a successful login clears the count, as at any login
    assert not AccessAttempt.objects.filter(username="agent").exists()
    for _attempt in range(2):
        login(Client(), "agent", "wrong-password")
    for _attempt in range(settings.AXES_FAILURE_LIMIT - 3):
        assert guess_current_password(client, "a-wrong-guess").status_code == 200
    assert guess_current_password(client, "a-wrong-guess").status_code == 429


def test_a_right_current_password_before_the_limit_clears_the_count_as_a_login_does(p, client):
    login(client, "agent")
    for _attempt in range(settings.AXES_FAILURE_LIMIT - 1):
        guess_current_password(client, "a-wrong-guess")
    response = client.post(
        "/account/password/",
        {"old_password": PASSWORD, "new_password": "Xihu-Lake-2026!", "confirm": "Xihu-Lake-2026!"},
    )
    assert response.status_code == 302
    assert not AccessAttempt.objects.filter(username="agent").exists()
    assert guess_current_password(client, "a-wrong-guess").status_code == 200  # counting starts again


def test_a_locked_account_cannot_use_the_page_even_with_the_right_password(p, client):
    login(client, "agent")
    for _attempt in range(settings.AXES_FAILURE_LIMIT):
        login(Client(), "agent", "wrong-password")  # someone else locks the username from this IP
    response = client.post(
        "/account/password/",
        {"old_password": PASSWORD, "new_password": "Xihu-Lake-2026!", "confirm": "Xihu-Lake-2026!"},
    )
    assert response.status_code == 429
    p.agent.refresh_from_db()
    assert p.agent.check_password(PASSWORD)
    assert client.get("/").status_code == 302


def test_other_users_guesses_do_not_count_against_agent(p, client):
    other = Client()
    login(other, "agent2")
    for _attempt in range(settings.AXES_FAILURE_LIMIT):
        guess_current_password(other, "a-wrong-guess")
    login(client, "agent")
    assert guess_current_password(client, "a-wrong-guess").status_code == 200
