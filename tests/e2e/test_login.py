"""Browser: an agent logs in, sees their home in Chinese, switches to English, logs out;
five wrong passwords lock the login (issue #2)."""

import re

import pytest
from playwright.sync_api import expect

from anju.testing import PASSWORD, make_personas

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def people(transactional_db):
    return make_personas()


def test_agent_logs_in_sees_chinese_home_switches_to_english_and_logs_out(page, people, log_in):
    log_in(page, "agent", PASSWORD)
    expect(page.locator("[data-testid=home-sales_agent]")).to_be_visible()
    expect(page.locator("html")).to_have_attribute("lang", "zh-hans")
    expect(page.locator("[data-testid=sidebar]")).to_contain_text("首页")

    page.click("[data-testid=language-switch] button")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.locator("[data-testid=sidebar]")).to_contain_text("Home")
    expect(page.locator("[data-testid=home-sales_agent]")).to_be_visible()

    page.click("[data-testid=user-menu]")
    page.click("[data-testid=logout]")
    expect(page).to_have_url(re.compile(r"/login/"))
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/login/\?next=/"))


def test_five_wrong_passwords_show_the_lockout_message(page, people, log_in):
    for _attempt in range(5):
        log_in(page, "agent", "wrong-password-123", signed_in=False)
    expect(page.locator("[data-testid=lockout-message]")).to_be_visible()
    expect(page.locator("[data-testid=lockout-message]")).to_contain_text("30")
    # Even the right password is refused while the lockout lasts.
    log_in(page, "agent", PASSWORD, signed_in=False)
    expect(page.locator("[data-testid=lockout-message]")).to_be_visible()


def test_agent_home_works_on_a_phone(phone_page, people, log_in):
    log_in(phone_page, "agent", PASSWORD)
    expect(phone_page.locator("[data-testid=home-sales_agent]")).to_be_visible()
    # The sidebar is an off-canvas menu on phones, opened from the top bar.
    expect(phone_page.locator("[data-testid=sidebar]")).not_to_be_visible()
    phone_page.click("button[aria-controls=sidebar]")
    expect(phone_page.locator("[data-testid=sidebar]")).to_be_visible()


def test_an_administrator_sets_up_two_factor_sign_in_and_uses_it(page, people, log_in):
    """The administrator role requires a second factor: the browser enrols an authenticator from
    the key on the page (as a phone app would from the QR code), then signs in with a code."""
    import base64

    from django_otp.oath import totp

    from anju.org.models import Role

    Role.objects.filter(code="administrator").update(requires_two_factor=True)
    log_in(page, "admin", PASSWORD, signed_in=False)
    expect(page).to_have_url(re.compile(r"/account/two-factor/setup/"))
    expect(page.locator("[data-testid=two-factor-qr] svg")).to_be_visible()
    page.click("details summary")
    secret = page.locator("[data-testid=two-factor-secret]").inner_text().replace(" ", "")
    key = base64.b32decode(secret)
    page.fill("input[name=code]", f"{totp(key):06d}")
    page.click("[data-testid=two-factor-submit]")
    expect(page.locator("[data-testid=recovery-code]")).to_have_count(10)
    recovery = page.locator("[data-testid=recovery-code]").first.inner_text()
    page.click("[data-testid=two-factor-continue]")
    expect(page.locator("[data-testid=sidebar]")).to_be_visible()

    # Next sign-in: the password is not enough; a recovery code opens it once.
    page.click("[data-testid=user-menu]")
    page.click("[data-testid=logout]")
    log_in(page, "admin", PASSWORD, signed_in=False)
    expect(page).to_have_url(re.compile(r"/account/two-factor/verify/"))
    page.fill("input[name=code]", recovery)
    page.click("[data-testid=two-factor-submit]")
    expect(page.locator("[data-testid=sidebar]")).to_be_visible()
    page.goto("/account/two-factor/")
    expect(page.locator("[data-testid=recovery-codes-left]")).to_contain_text("9")
