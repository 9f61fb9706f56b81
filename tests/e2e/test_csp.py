"""Browser: the main pages run under the Content-Security-Policy without a single violation
(issue #9 defect 12): no inline script, handler or style is left for the policy to block."""

from __future__ import annotations

import re

import pytest
from django.utils import timezone
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice
from playwright.sync_api import expect

from anju.customers.services import reception
from anju.listings.models import Listing
from anju.org.models import Role
from anju.testing import make_personas
from tests.e2e.test_listings import building  # noqa: F401 (a project with a building and its board)

pytestmark = pytest.mark.django_db(transaction=True)

# Pages every signed-in persona opens; the administrator's list adds the security pages.
COMMON_PAGES = [
    "/",
    "/customers/",
    "/listings/",
    "/customers/reception/",
    "/account/tokens/",
    "/account/password/",
    "/account/two-factor/",
]
ADMIN_PAGES = ["/org/users/", "/org/branches/", "/org/lockouts/", "/notifications/"]


@pytest.fixture
def people(transactional_db):
    personas = make_personas()
    reception.roster_set(
        actor=personas.lead, branch=personas.branch_a, day=reception.rotation_day(), agents=[personas.agent]
    )
    return personas


class Violations:
    """Console messages and page errors that name the Content Security Policy."""

    def __init__(self, page):
        self.messages: list[str] = []
        page.on("console", lambda message: self._keep(page, message.text))
        page.on("pageerror", lambda error: self._keep(page, str(error)))

    def _keep(self, page, text: str) -> None:
        if "Content Security Policy" in text or "Content-Security-Policy" in text:
            self.messages.append(f"{page.url}: {text}")


def visit(page, path: str) -> None:
    page.goto(path)
    page.wait_for_load_state("networkidle")


def api_docs(page) -> None:
    """The Swagger page renders from ninja's own static files under the same policy."""
    visit(page, "/api/v1/docs")
    expect(page.locator("#swagger-ui")).to_contain_text("Anju API")
    expect(page.locator("#swagger-ui")).to_contain_text("/api/v1/auth/token")


def current_code(user) -> str:
    device = TOTPDevice.objects.get(user=user, confirmed=False)
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    totp.time = timezone.now().timestamp()
    return f"{totp.token():0{device.digits}d}"


def test_an_agents_pages_raise_no_csp_violation(page, people, log_in):
    violations = Violations(page)
    visit(page, "/login/")
    log_in(page, "agent")
    for path in COMMON_PAGES:
        visit(page, path)
    # The token page's copy button and revoke confirmation are wired by anju.js, not inline handlers.
    visit(page, "/account/tokens/")
    page.fill("[data-testid=token-form] input[name=name]", "CRM 同步")
    page.click("[data-testid=token-create]")
    expect(page.locator("[data-testid=token-secret]")).to_be_visible()
    page.once("dialog", lambda dialog: dialog.dismiss())
    page.click("[data-testid=token-revoke]")
    expect(page.locator("[data-testid=token-row]")).to_contain_text("CRM 同步")
    expect(page.locator("[data-testid=token-row] .badge")).not_to_contain_text("已吊销")
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("[data-testid=token-revoke]")
    expect(page.locator("[data-testid=token-row] .badge")).to_contain_text("已吊销")
    api_docs(page)
    assert violations.messages == []


def test_an_administrators_pages_and_the_two_factor_steps_raise_no_csp_violation(page, people, log_in):
    Role.objects.filter(code="administrator").update(requires_two_factor=True)
    violations = Violations(page)
    log_in(page, "admin", signed_in=False)
    expect(page.locator("[data-testid=two-factor-qr] svg")).to_be_visible()
    page.fill("input[name=code]", current_code(people.admin))
    page.click("[data-testid=two-factor-submit]")
    expect(page.locator("[data-anju-print]")).to_be_visible()  # the recovery codes page
    for path in COMMON_PAGES + ADMIN_PAGES:
        visit(page, path)
    api_docs(page)
    assert violations.messages == []


def test_the_sales_board_and_a_listings_tabs_raise_no_csp_violation(page, building, log_in):  # noqa: F811
    """The board's styles and the listing page's gallery and tab script moved to static files."""
    violations = Violations(page)
    log_in(page, "agent")
    visit(page, f"/listings/buildings/{building.pk}/board/")
    sold = page.locator("[data-testid=board-cell][data-room='301']")
    expect(sold).to_have_class(re.compile("anju-board-sold"))
    assert sold.evaluate("cell => getComputedStyle(cell).borderTopStyle") == "solid"  # board.css applies
    visit(page, f"/listings/projects/{building.project_id}/")
    listing = Listing.objects.get(building=building, room_no="602")
    visit(page, f"/listings/{listing.pk}/#history")
    expect(page.locator("[data-testid=history]")).to_be_visible()  # the #history tab opened by anju.js
    assert violations.messages == []


def test_the_browser_enforces_the_policy_and_the_check_sees_it(page, people):
    """Guards the two tests above against a silent pass: an injected inline script is blocked and reported."""
    violations = Violations(page)
    visit(page, "/login/")
    page.evaluate(
        """() => {
            const script = document.createElement("script");
            script.textContent = "window.anjuInjected = true";
            document.body.appendChild(script);
        }"""
    )
    page.wait_for_timeout(200)
    assert page.evaluate("() => window.anjuInjected === undefined")
    assert any("script-src" in message for message in violations.messages), violations.messages
