"""Two-factor sign-in for roles that require it (R5.1.2; DESIGN.md "Login security")."""

from __future__ import annotations

from datetime import timedelta
from importlib import import_module

import pytest
from django.apps import apps
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django_otp.oath import TOTP
from django_otp.plugins.otp_static.models import StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from anju.core.models import AuditEvent, Notification
from anju.org.models import Role, UserSession
from anju.org.services import auth as auth_services
from anju.org.services import two_factor
from anju.testing import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db

SETUP = reverse("two-factor-setup")
VERIFY = reverse("two-factor-verify")
USERS = "/org/users/"


@pytest.fixture
def admin_needs_2fa(p):
    Role.objects.filter(code="administrator").update(requires_two_factor=True)
    return p.admin


def password_login(client, user, next_url=USERS):
    response = client.post("/login/", {"username": user.username, "password": PASSWORD, "next": next_url})
    assert response.status_code == 302, response.content
    return response


def code_for(device: TOTPDevice, *, steps_ahead: int = 0) -> str:
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    totp.time = timezone.now().timestamp() + steps_ahead * device.step
    return f"{totp.token():0{device.digits}d}"


def enrol(client, user) -> tuple[TOTPDevice, list[str]]:
    """Sign in with the password and complete the set-up; returns the device and recovery codes."""
    password_login(client, user)
    client.get(SETUP)
    device = TOTPDevice.objects.get(user=user, confirmed=False)
    response = client.post(SETUP, {"code": code_for(device), "next": USERS})
    assert response.status_code == 200
    codes = list(response.context["codes"])
    device.refresh_from_db()
    return device, codes


def unthrottle(user) -> None:
    """Move the last failure back in time instead of sleeping through django-otp's back-off."""
    past = timezone.now() - timedelta(minutes=10)
    TOTPDevice.objects.filter(user=user).update(throttling_failure_timestamp=past)
    from django_otp.plugins.otp_static.models import StaticDevice

    StaticDevice.objects.filter(user=user).update(throttling_failure_timestamp=past)


# --- which roles --------------------------------------------------------------------------------


def test_a_new_installation_requires_it_of_administrators_and_auditors(p):
    Role.objects.update(requires_two_factor=False)
    import_module("anju.org.migrations.0003_role_requires_two_factor").require_two_factor(apps, None)
    assert set(Role.objects.filter(requires_two_factor=True).values_list("code", flat=True)) == {
        "administrator",
        "auditor",
    }


def test_an_administrator_can_require_it_of_another_role_and_it_is_audited(p, login):
    role = Role.objects.get(code="branch_manager")
    client = login(p.admin)
    page = client.get(reverse("org:role-edit", args=[role.pk]))
    data = {
        "name": role.name,
        "description": role.description,
        "data_scope": role.data_scope,
        "requires_two_factor": "on",
        "permissions": [
            perm.pk for perm in page.context["form"].fields["permissions"].queryset if perm in role.permissions.all()
        ],
    }
    response = client.post(reverse("org:role-edit", args=[role.pk]), data)
    assert response.status_code == 302
    role.refresh_from_db()
    assert role.requires_two_factor is True
    event = AuditEvent.objects.filter(action="org.role.updated", target_id=str(role.pk)).latest("seq")
    assert event.before["requires_two_factor"] is False and event.after["requires_two_factor"] is True
    assert 'data-testid="role-2fa"' in client.get(reverse("org:role-list")).content.decode()


# --- the gate -----------------------------------------------------------------------------------


def test_password_alone_reaches_only_the_set_up_page(client, admin_needs_2fa):
    password_login(client, admin_needs_2fa)
    response = client.get(USERS)
    assert response.status_code == 302
    assert response["Location"] == f"{SETUP}?next=%2Forg%2Fusers%2F"
    assert client.get("/").status_code == 302
    assert client.get(SETUP).status_code == 200
    # The API does not take such a session either.
    assert client.get("/api/v1/me").status_code == 401
    # An HTMX request is told to load the page whole instead of swapping it in.
    htmx = client.get(USERS, HTTP_HX_REQUEST="true")
    assert htmx.status_code == 204 and htmx["HX-Redirect"].startswith(SETUP)
    assert client.post("/logout/").status_code == 302


def test_roles_that_do_not_require_it_sign_in_with_the_password(client, admin_needs_2fa, p):
    password_login(client, p.agent, next_url="/customers/")
    assert client.get("/customers/").status_code == 200


def test_set_up_with_a_wrong_then_a_right_code(client, admin_needs_2fa):
    password_login(client, admin_needs_2fa)
    page = client.get(SETUP)
    assert b"<svg" in page.content and b'data-testid="two-factor-secret"' in page.content
    device = TOTPDevice.objects.get(user=admin_needs_2fa, confirmed=False)
    assert client.get(SETUP).context["secret"] == page.context["secret"]  # a reload keeps the same key

    wrong = client.post(SETUP, {"code": "000000" if code_for(device) != "000000" else "111111"})
    assert wrong.status_code == 200
    assert "code" in wrong.context["form"].errors
    assert not TOTPDevice.objects.filter(user=admin_needs_2fa, confirmed=True).exists()

    unthrottle(admin_needs_2fa)
    done = client.post(SETUP, {"code": code_for(device), "next": USERS})
    assert done.status_code == 200
    codes = done.context["codes"]
    assert len(codes) == 10 and len(set(codes)) == 10
    assert StaticToken.objects.filter(device__user=admin_needs_2fa).count() == 10
    assert client.get(USERS).status_code == 200  # this session passed its second factor
    assert AuditEvent.objects.filter(action="auth.two_factor.enrolled", target_id=str(admin_needs_2fa.pk)).exists()


def test_next_sign_in_asks_for_the_code_and_refuses_wrong_and_replayed_ones(admin_needs_2fa):
    device, _codes = enrol(Client(), admin_needs_2fa)

    client = Client()
    password_login(client, admin_needs_2fa)
    assert client.get(USERS)["Location"] == f"{VERIFY}?next=%2Forg%2Fusers%2F"
    # Having an authenticator, the set-up page is not a way round it.
    assert client.get(SETUP)["Location"].startswith(VERIFY)

    wrong = client.post(VERIFY, {"code": code_for(device, steps_ahead=5)})  # outside the ±1 step window
    assert wrong.status_code == 200 and wrong.context["form"].errors["code"]
    throttled = client.post(VERIFY, {"code": code_for(device, steps_ahead=1)})  # right, but too soon
    assert throttled.status_code == 200
    assert "请稍候" in str(throttled.context["form"].errors["code"]) or "Wait" in str(
        throttled.context["form"].errors["code"]
    )
    assert client.get(USERS).status_code == 302

    unthrottle(admin_needs_2fa)
    ok = client.post(VERIFY, {"code": code_for(device, steps_ahead=1), "next": USERS})
    assert ok.status_code == 302 and ok["Location"] == USERS
    assert client.get(USERS).status_code == 200

    # The same code cannot open a second session.
    other = Client()
    password_login(other, admin_needs_2fa)
    replay = other.post(VERIFY, {"code": code_for(device, steps_ahead=1)})
    assert replay.status_code == 200 and replay.context["form"].errors
    actions = list(
        AuditEvent.objects.filter(target_id=str(admin_needs_2fa.pk), action__startswith="auth.two_factor.")
        .order_by("seq")
        .values_list("action", flat=True)
    )
    assert actions.count("auth.two_factor.failed") >= 2
    assert "auth.two_factor.throttled" in actions and "auth.two_factor.verified" in actions


def test_a_recovery_code_works_once(admin_needs_2fa):
    _device, codes = enrol(Client(), admin_needs_2fa)
    client = Client()
    password_login(client, admin_needs_2fa)
    response = client.post(VERIFY, {"code": codes[0].upper(), "next": USERS})  # case and spaces do not matter
    assert response.status_code == 302 and response["Location"] == USERS
    assert two_factor.recovery_codes_left(admin_needs_2fa) == 9

    again = Client()
    password_login(again, admin_needs_2fa)
    reused = again.post(VERIFY, {"code": codes[0]})
    assert reused.status_code == 200 and reused.context["form"].errors
    event = AuditEvent.objects.filter(action="auth.two_factor.verified").latest("seq")
    assert event.after == {"kind": "recovery_code", "recovery_codes_left": 9}


def test_new_recovery_codes_replace_the_old_ones(admin_needs_2fa):
    client = Client()
    _device, old = enrol(client, admin_needs_2fa)
    response = client.post(reverse("account-recovery-codes"))
    assert response.status_code == 200
    new = response.context["codes"]
    assert set(new).isdisjoint(old)
    assert set(StaticToken.objects.filter(device__user=admin_needs_2fa).values_list("token", flat=True)) == set(new)
    page = client.get(reverse("account-two-factor")).content.decode()
    assert 'data-testid="recovery-codes-left">10' in page


def test_it_cannot_be_turned_off_while_a_role_requires_it(admin_needs_2fa):
    client = Client()
    enrol(client, admin_needs_2fa)
    client.post(reverse("account-two-factor-off"))
    assert TOTPDevice.objects.filter(user=admin_needs_2fa, confirmed=True).exists()
    Role.objects.filter(code="administrator").update(requires_two_factor=False)
    client.post(reverse("account-two-factor-off"))
    assert not TOTPDevice.objects.filter(user=admin_needs_2fa).exists()
    assert AuditEvent.objects.filter(action="auth.two_factor.disabled").exists()


def bearer(raw: str):
    return Client().get("/api/v1/me", HTTP_AUTHORIZATION=f"Bearer {raw}")


def test_tokens_issued_with_a_second_factor_work_for_such_users(admin_needs_2fa):
    _token, raw = auth_services.token_create(actor=admin_needs_2fa, name="sync", with_two_factor=True)
    assert bearer(raw).status_code == 200


def test_a_token_issued_before_the_role_required_it_is_refused_until_reissued_with_a_code(p):
    """Issue #9 defect 10: a password-only token must not outlive a new two-factor requirement."""
    old, raw = auth_services.token_create(actor=p.admin, name="sync")
    assert old.issued_with_two_factor is False
    assert bearer(raw).status_code == 200  # no role requires it yet

    Role.objects.filter(code="administrator").update(requires_two_factor=True)

    refused = bearer(raw)
    assert refused.status_code == 401
    error = refused.json()["error"]
    assert error["code"] == "auth.token_without_two_factor"
    assert "两步验证" in error["message"]
    old.refresh_from_db()
    assert old.revoked_at is None  # refused, not revoked: the requirement may be lifted again

    device, _codes = enrol(Client(), p.admin)
    issued = Client().post(
        "/api/v1/auth/token",
        {"username": "admin", "password": PASSWORD, "otp": code_for(device, steps_ahead=1)},
        content_type="application/json",
    )
    assert issued.status_code == 201, issued.content
    assert bearer(issued.json()["token"]).status_code == 200
    assert bearer(raw).status_code == 401  # the old one stays refused
    event = AuditEvent.objects.filter(action="org.api_token.created", actor=p.admin).latest("seq")
    assert event.after["issued_with_two_factor"] is True


def test_a_token_made_on_the_tokens_page_after_the_code_counts_as_with_two_factor(admin_needs_2fa):
    client = Client()
    enrol(client, admin_needs_2fa)  # this session passed its second factor
    response = client.post(reverse("account-tokens"), {"name": "nightly export"})
    assert response.status_code == 200
    raw = response.context["new_secret"]
    assert bearer(raw).status_code == 200


def test_roles_without_the_requirement_keep_password_only_tokens(p):
    Role.objects.filter(code="administrator").update(requires_two_factor=True)
    _token, raw = auth_services.token_create(actor=p.agent, name="crm")
    assert bearer(raw).status_code == 200


def test_a_two_factor_reset_also_ends_the_users_tokens(admin_needs_2fa, second_admin):
    _token, raw = auth_services.token_create(actor=admin_needs_2fa, name="sync", with_two_factor=True)
    two_factor.two_factor_reset(actor=second_admin, user=admin_needs_2fa, reason="手机丢失，已电话核实")
    assert bearer(raw).status_code == 401
    event = AuditEvent.objects.get(action="auth.two_factor.reset")
    assert event.after["tokens_revoked"] == 1


# --- an administrator resets a lost phone ------------------------------------------------------------


@pytest.fixture
def second_admin(p):
    return UserFactory(
        username="admin2",
        display_name="第二管理员",
        roles=["administrator"],
        branch=p.admin.branch,
    )


def test_reset_needs_a_reason_removes_devices_ends_sessions_and_is_audited(admin_needs_2fa, second_admin):
    victim_client = Client()
    enrol(victim_client, admin_needs_2fa)
    assert UserSession.objects.filter(user=admin_needs_2fa).exists()

    client = Client()
    enrol(client, second_admin)  # an administrator's own session passed its second factor
    detail = client.get(reverse("org:user-detail", args=[admin_needs_2fa.pk])).content.decode()
    assert 'data-testid="user-two-factor-reset"' in detail
    url = reverse("org:user-two-factor-reset", args=[admin_needs_2fa.pk])
    refused = client.post(url, {"reason": "  "})
    assert refused.status_code == 200 and refused.context["form"].errors
    assert TOTPDevice.objects.filter(user=admin_needs_2fa).exists()

    done = client.post(url, {"reason": "手机丢失，已电话核实"})
    assert done.status_code == 302
    assert not TOTPDevice.objects.filter(user=admin_needs_2fa).exists()
    assert not StaticToken.objects.filter(device__user=admin_needs_2fa).exists()
    assert not UserSession.objects.filter(user=admin_needs_2fa).exists()
    assert victim_client.get(USERS).status_code == 302  # logged out
    event = AuditEvent.objects.get(action="auth.two_factor.reset")
    assert event.reason == "手机丢失，已电话核实" and event.actor_id == second_admin.pk
    assert Notification.objects.filter(user=admin_needs_2fa).exists()

    # Next sign-in: set up again.
    again = Client()
    password_login(again, admin_needs_2fa)
    assert again.get(USERS)["Location"].startswith(SETUP)


def test_nobody_resets_their_own_and_agents_cannot_reset(admin_needs_2fa, p, login):
    client = Client()
    enrol(client, admin_needs_2fa)
    response = client.post(reverse("org:user-two-factor-reset", args=[admin_needs_2fa.pk]), {"reason": "test"})
    assert response.status_code == 200 and response.context["form"].errors
    assert TOTPDevice.objects.filter(user=admin_needs_2fa).exists()
    agent = login(p.agent)
    assert (
        agent.post(reverse("org:user-two-factor-reset", args=[admin_needs_2fa.pk]), {"reason": "x"}).status_code == 403
    )


def test_the_api_token_exchange_asks_for_the_second_factor_too(admin_needs_2fa):
    api = Client()
    body = {"username": admin_needs_2fa.username, "password": PASSWORD}
    not_set_up = api.post("/api/v1/auth/token", body, content_type="application/json")
    assert not_set_up.status_code == 401
    assert not_set_up.json()["error"]["code"] == "auth.two_factor_setup_required"

    device, _codes = enrol(Client(), admin_needs_2fa)
    missing = api.post("/api/v1/auth/token", body, content_type="application/json")
    assert missing.status_code == 401 and missing.json()["error"]["code"] == "auth.two_factor_required"
    assert "otp" in missing.json()["error"]["fields"]
    wrong = api.post(
        "/api/v1/auth/token", {**body, "otp": code_for(device, steps_ahead=5)}, content_type="application/json"
    )
    assert wrong.status_code == 401 and wrong.json()["error"]["code"] == "auth.two_factor_invalid"
    unthrottle(admin_needs_2fa)
    ok = api.post(
        "/api/v1/auth/token", {**body, "otp": code_for(device, steps_ahead=1)}, content_type="application/json"
    )
    assert ok.status_code == 201, ok.content
    assert Client().get("/api/v1/me", HTTP_AUTHORIZATION=f"Bearer {ok.json()['token']}").status_code == 200


def test_the_server_command_resets_and_is_audited_under_the_operator(admin_needs_2fa):
    from io import StringIO

    from django.core.management import CommandError, call_command

    enrol(Client(), admin_needs_2fa)
    with pytest.raises(CommandError):
        call_command("two_factor_reset", admin_needs_2fa.username, reason=" ", operator="张三")
    assert TOTPDevice.objects.filter(user=admin_needs_2fa).exists()
    out = StringIO()
    call_command("two_factor_reset", admin_needs_2fa.username, reason="工单 1234", operator="张三", stdout=out)
    assert "2 device(s) removed" in out.getvalue()  # the authenticator and the recovery codes
    assert not TOTPDevice.objects.filter(user=admin_needs_2fa).exists()
    event = AuditEvent.objects.get(action="auth.two_factor.reset")
    assert event.actor_id is None and event.actor_name == "张三 (manage.py)" and event.reason == "工单 1234"
