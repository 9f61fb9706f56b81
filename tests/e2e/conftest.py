"""Browser tests: Playwright (Python) driving Debian's /usr/bin/chromium, headless.

Locally without Chromium they skip with a clear message; under CI=true they must run.
"""

import os
import shutil

import pytest

CHROMIUM = os.environ.get("ANJU_CHROMIUM", "/usr/bin/chromium")
# Playwright's sync API runs an event loop in this thread; the ORM calls the tests make
# around it are plain synchronous calls, so Django's async guard does not apply.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


def pytest_collection_modifyitems(config, items):
    for item in items:
        if "tests/e2e/" in str(item.fspath):
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="session")
def browser():
    if not (os.path.exists(CHROMIUM) or shutil.which(CHROMIUM)):
        if os.environ.get("CI") == "true":
            pytest.fail(f"Chromium not found at {CHROMIUM}; .ci/run must install it (apt-get install chromium)")
        pytest.skip(
            f"Chromium not found at {CHROMIUM}: install it with `apt-get install chromium` to run browser tests"
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        yield browser
        browser.close()


@pytest.fixture
def page(browser, live_server):
    context = browser.new_context(base_url=live_server.url, locale="zh-CN", viewport={"width": 1280, "height": 900})
    context.set_default_timeout(10_000)
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture
def log_in():
    """``log_in(page, username, password=PASSWORD)`` signs in through the login form and waits for the
    sidebar; ``signed_in=False`` only submits the form (a wrong password, a second factor to come)."""
    from playwright.sync_api import expect

    from anju.testing import PASSWORD

    def _log_in(page, username: str, password: str = PASSWORD, *, signed_in: bool = True) -> None:
        page.goto("/login/")
        page.fill("input[name=username]", username)
        page.fill("input[name=password]", password)
        page.click("[data-testid=login-submit]")
        if signed_in:
            expect(page.locator("[data-testid=sidebar]")).to_be_attached()

    return _log_in


@pytest.fixture
def phone_page(browser, live_server):
    """A phone-sized page (agents at the sales office work on their phones)."""
    context = browser.new_context(
        base_url=live_server.url, locale="zh-CN", viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True
    )
    context.set_default_timeout(10_000)
    page = context.new_page()
    yield page
    context.close()
