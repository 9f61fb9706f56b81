"""The audit browser: who may open it, filters, the HTMX partial, CSV export and query budget."""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo

import pytest
from django.urls import reverse

from anju.core import audit
from anju.core.models import AuditEvent
from tests.helpers import csv_rows

pytestmark = pytest.mark.django_db

SHANGHAI = zoneinfo.ZoneInfo("Asia/Shanghai")
EN = {"Accept-Language": "en"}
ALLOWED = ["admin", "auditor"]
REFUSED = ["agent", "lead", "manager", "cs", "legal", "finance", "qa"]


def shown_seqs(response) -> list[int]:
    return [int(seq) for seq in re.findall(r'data-testid="audit-row" data-seq="(\d+)"', response.content.decode())]


def record_at(monkeypatch, when: dt.datetime, **kwargs) -> AuditEvent:
    """Record an event as if it happened at ``when`` (the row cannot be edited afterwards)."""
    with monkeypatch.context() as patch:
        patch.setattr("django.utils.timezone.now", lambda: when)
        return audit.record(**kwargs)


@pytest.fixture
def events(p):
    """Events by different actors; login events from force_login come on top of these."""
    return [
        audit.record(
            actor=p.admin,
            action="org.user.updated",
            target=p.agent,
            before={"status": "active"},
            after={"status": "suspended"},
            reason="停职",
        ),
        audit.record(actor=p.admin, action="org.team.created", target=p.team_a2),
        audit.record(actor=p.lead, action="org.user.updated", target=p.agent2, after={"phone": "13812341234"}),
        audit.record(
            actor=None,
            actor_name='=HYPERLINK("http://x")',
            action="auth.login_failed",
            after={"username": '=HYPERLINK("http://x")'},
        ),
    ]


# --- permission matrix ----------------------------------------------------------------------


@pytest.mark.parametrize("url_name", ["audit-list", "audit-export"])
def test_anonymous_is_sent_to_login(client, p, url_name):
    url = reverse(url_name)
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"] == f"{reverse('login')}?next={url}"


@pytest.mark.parametrize("url_name", ["audit-list", "audit-export"])
@pytest.mark.parametrize("persona", REFUSED)
def test_roles_without_audit_permission_are_refused(login, p, persona, url_name):
    response = login(getattr(p, persona)).get(reverse(url_name))
    assert response.status_code == 403


@pytest.mark.parametrize("persona", REFUSED)
def test_refused_export_is_not_recorded_as_an_export(login, p, persona):
    login(getattr(p, persona)).get(reverse("audit-export"))
    assert not AuditEvent.objects.filter(action="core.audit.exported").exists()


@pytest.mark.parametrize("url_name", ["audit-list", "audit-export"])
@pytest.mark.parametrize("persona", ALLOWED)
def test_admin_and_auditor_may_browse_and_export(login, p, persona, url_name):
    response = login(getattr(p, persona)).get(reverse(url_name))
    assert response.status_code == 200


def test_audit_list_page_renders_filters_rows_and_export_link(login, p, events):
    response = login(p.auditor).get(reverse("audit-list"), headers=EN)
    html = response.content.decode()
    assert 'data-testid="audit-filters"' in html
    assert 'hx-get="/audit/"' in html
    assert 'hx-target="#audit-rows"' in html
    assert 'data-testid="audit-export"' in html
    assert shown_seqs(response)[:4] == [5, 4, 3, 2]  # newest first; #5 is the auditor's login
    # The details expander carries before/after, already masked.
    assert "138****1234" in html
    assert "13812341234" not in html
    assert "停职" in html


def test_times_are_shown_in_shanghai_time(login, p, monkeypatch):
    record_at(monkeypatch, dt.datetime(2026, 3, 1, 16, 30, tzinfo=dt.UTC), actor=p.admin, action="core.test.done")
    response = login(p.admin).get(reverse("audit-list"), {"action": "core.test"})
    assert "2026-03-02 00:30:00" in response.content.decode()


# --- filters ------------------------------------------------------------------------------


def test_filter_by_actor_name_or_username(login, p, events):
    client = login(p.admin)
    by_name = client.get(reverse("audit-list"), {"actor": "王主管"})
    assert shown_seqs(by_name) == [events[2].seq]
    by_username = client.get(reverse("audit-list"), {"actor": "lead"})
    assert shown_seqs(by_username) == [events[2].seq]


def test_filter_by_action_prefix(login, p, events):
    client = login(p.admin)
    assert shown_seqs(client.get(reverse("audit-list"), {"action": "org.user"})) == [events[2].seq, events[0].seq]
    assert shown_seqs(client.get(reverse("audit-list"), {"action": "org.team.created"})) == [events[1].seq]
    assert shown_seqs(client.get(reverse("audit-list"), {"action": "deals."})) == []


def test_filter_by_object(login, p, events):
    response = login(p.admin).get(reverse("audit-list"), {"target": "赵置业"})
    assert shown_seqs(response) == [events[2].seq]


def test_filter_by_local_date_range(login, p, monkeypatch):
    # 23:30 in Shanghai on 10 January is still 10 January, though it is 15:30 UTC.
    late_on_10th = record_at(
        monkeypatch, dt.datetime(2026, 1, 10, 23, 30, tzinfo=SHANGHAI), actor=p.admin, action="core.test.done"
    )
    on_11th = record_at(
        monkeypatch, dt.datetime(2026, 1, 11, 0, 15, tzinfo=SHANGHAI), actor=p.admin, action="core.test.done"
    )
    on_12th = record_at(
        monkeypatch, dt.datetime(2026, 1, 12, 9, 0, tzinfo=SHANGHAI), actor=p.admin, action="core.test.done"
    )
    client = login(p.admin)

    def seqs(**params):
        return shown_seqs(client.get(reverse("audit-list"), {"action": "core.test", **params}))

    assert seqs(date_to="2026-01-10") == [late_on_10th.seq]
    assert seqs(date_from="2026-01-11") == [on_12th.seq, on_11th.seq]
    assert seqs(date_from="2026-01-11", date_to="2026-01-11") == [on_11th.seq]


def test_reversed_date_range_shows_an_error_instead_of_filtering(login, p, events):
    response = login(p.admin).get(
        reverse("audit-list"), {"date_from": "2026-02-01", "date_to": "2026-01-01"}, headers=EN
    )
    assert 'data-testid="audit-filter-errors"' in response.content.decode()
    assert response.context["form"].errors


def test_htmx_request_gets_only_the_rows_partial(login, p, events):
    response = login(p.admin).get(reverse("audit-list"), {"action": "org.team"}, headers={"HX-Request": "true"})
    html = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in html
    assert 'data-testid="audit-table"' in html
    assert shown_seqs(response) == [events[1].seq]
    assert "HX-Request" in response["Vary"]
    # The export button in the partial follows the filters just applied.
    assert f'href="{reverse("audit-export")}?action=org.team"' in html


def test_htmx_history_restore_gets_the_whole_page(login, p, events):
    response = login(p.admin).get(
        reverse("audit-list"),
        {"action": "org.team"},
        headers={"HX-Request": "true", "HX-History-Restore-Request": "true"},
    )
    assert "<html" in response.content.decode()


def test_pagination_keeps_the_filters(login, p):
    for _ in range(55):
        audit.record(actor=p.admin, action="core.test.done")
    client = login(p.admin)
    first = client.get(reverse("audit-list"), {"action": "core.test"})
    assert len(shown_seqs(first)) == 50
    assert "?action=core.test&amp;page=2" in first.content.decode()
    second = client.get(reverse("audit-list"), {"action": "core.test", "page": 2})
    assert len(shown_seqs(second)) == 5


def test_audit_list_query_count_does_not_grow_with_rows(login, p, django_assert_max_num_queries):
    client = login(p.auditor)
    client.get(reverse("audit-list"))  # warm caches (content types, permissions)
    with django_assert_max_num_queries(12):
        few = client.get(reverse("audit-list"))
    assert len(shown_seqs(few)) < 5
    for _ in range(60):
        audit.record(actor=p.admin, action="core.test.done", target=p.agent, after={"n": 1})
    with django_assert_max_num_queries(12):
        many = client.get(reverse("audit-list"))
    assert len(shown_seqs(many)) == 50


# --- CSV export ---------------------------------------------------------------------------


def test_export_has_a_header_and_one_row_per_event(login, p, events):
    response = login(p.auditor).get(reverse("audit-export"), headers=EN)

    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="anju-audit-')
    rows = csv_rows(response)
    header, body = rows[0], rows[1:]
    assert header[:4] == ["Sequence", "Time", "Actor", "Action"]
    assert "Hash" in header
    # Everything before the export itself: the four events and the auditor's login.
    assert [int(row[0]) for row in body] == [5, 4, 3, 2, 1]
    by_seq = {int(row[0]): dict(zip(header, row, strict=True)) for row in body}
    assert by_seq[1]["Actor"] == "陈管理员"
    assert by_seq[1]["Action"] == "org.user.updated"
    assert by_seq[1]["Before"] == '{"status": "active"}'
    assert by_seq[1]["After"] == '{"status": "suspended"}'
    assert by_seq[1]["Reason"] == "停职"
    assert by_seq[1]["Hash"] == events[0].hash
    assert by_seq[3]["After"] == '{"phone": "138****1234"}'


def test_export_defuses_spreadsheet_formulas(login, p, events):
    body = csv_rows(login(p.admin).get(reverse("audit-export"), {"action": "auth.login_failed"}))[1:]
    assert len(body) == 1
    assert body[0][2] == '\'=HYPERLINK("http://x")'


def test_export_follows_the_filters(login, p, events):
    body = csv_rows(login(p.admin).get(reverse("audit-export"), {"action": "org.user"}))[1:]
    assert [int(row[0]) for row in body] == [events[2].seq, events[0].seq]


def test_export_is_itself_audited(login, p, events):
    response = login(p.auditor).get(reverse("audit-export"), {"action": "org.user", "actor": "陈管理员"})
    exported_rows = len(csv_rows(response)) - 1

    event = AuditEvent.objects.get(action="core.audit.exported")
    assert event.actor == p.auditor
    assert event.source == "web"
    assert event.after == {"filters": {"action": "org.user", "actor": "陈管理员"}, "rows": 1}
    assert exported_rows == 1
    assert audit.verify().ok


def test_export_query_count_does_not_grow_with_rows(login, p, django_assert_max_num_queries):
    for _ in range(30):
        audit.record(actor=p.admin, action="core.test.done")
    client = login(p.admin)
    client.get(reverse("audit-list"))
    with django_assert_max_num_queries(16):
        rows = csv_rows(client.get(reverse("audit-export")))
    assert len(rows) > 30
