"""Content-Security-Policy on every HTML response, and no template that needs it relaxed (issue #9
defect 12). The browser side is tests/e2e/test_csp.py."""

import re
from pathlib import Path

import pytest
from django.conf import settings

pytestmark = pytest.mark.django_db

TEMPLATES = Path(settings.BASE_DIR) / "anju" / "templates"
# Inline event handlers (onclick=, onsubmit= …), style attributes, <style> blocks, scripts without src,
# htmx's eval-based hx-on and trigger filters: each needs 'unsafe-inline' or 'unsafe-eval'.
FORBIDDEN = {
    "event handler attribute": re.compile(r"\son[a-z]+\s*=", re.IGNORECASE),
    "style attribute": re.compile(r"\sstyle\s*=", re.IGNORECASE),
    "style element": re.compile(r"<style[\s>]", re.IGNORECASE),
    "inline script": re.compile(r"<script(?![^>]*\bsrc=)(?![^>]*type=\"application/json\")[^>]*>", re.IGNORECASE),
    "hx-on": re.compile(r"\shx-on", re.IGNORECASE),
    "htmx trigger filter": re.compile(r"hx-trigger=\"[^\"]*\["),
    "javascript: URL": re.compile(r"javascript:", re.IGNORECASE),
}


def directives(response) -> dict[str, str]:
    header = response["Content-Security-Policy"]
    parts = (part.strip().split(None, 1) for part in header.split(";") if part.strip())
    return {part[0]: part[1] if len(part) > 1 else "" for part in parts}


def assert_strict(response) -> None:
    policy = directives(response)
    assert policy["default-src"] == "'self'"
    assert policy["script-src"] == "'self'"
    assert policy["style-src"] == "'self'"
    assert policy["img-src"] == "'self' data:"
    assert policy["object-src"] == "'none'"
    assert policy["base-uri"] == "'self'"
    assert policy["frame-ancestors"] == "'none'"
    assert policy["form-action"] == "'self'"
    assert "unsafe" not in response["Content-Security-Policy"]


def test_the_login_page_carries_the_policy(client):
    response = client.get("/login/")
    assert response.status_code == 200
    assert_strict(response)


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/customers/",
        "/listings/",
        "/customers/reception/",
        "/account/tokens/",
        "/account/password/",
        "/api/v1/docs",
    ],
)
def test_signed_in_pages_carry_the_policy(p, login, path):
    response = login(p.agent).get(path, follow=True)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    assert_strict(response)


def test_error_pages_and_htmx_partials_carry_it_too(p, login):
    client = login(p.agent)
    assert_strict(client.get("/org/lockouts/"))  # 403
    assert_strict(client.get("/customers/999999/"))  # 404
    assert_strict(client.get("/customers/", HTTP_HX_REQUEST="true"))


def test_a_locked_out_login_page_carries_it(p, client):
    for _attempt in range(settings.AXES_FAILURE_LIMIT):
        response = client.post("/login/", {"username": "agent", "password": "wrong-password"})
    assert response.status_code == 429
    assert_strict(response)


def test_no_template_needs_an_unsafe_policy():
    found = []
    for template in sorted(TEMPLATES.rglob("*.html")):
        text = template.read_text(encoding="utf-8")
        for kind, pattern in FORBIDDEN.items():
            for match in pattern.finditer(text):
                line = text.count("\n", 0, match.start()) + 1
                found.append(f"{template.relative_to(TEMPLATES)}:{line}: {kind}")
    assert found == []


def test_htmx_keeps_its_indicator_style_out_of_the_page(p, login):
    content = login(p.agent).get("/").content.decode()
    assert '<meta name="htmx-config" content=\'{"includeIndicatorStyles": false}\'>' in content
