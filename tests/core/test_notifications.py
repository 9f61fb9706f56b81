"""The notifications inbox and the bell in the top bar: own messages only, mark read, unread count."""

from __future__ import annotations

import pytest
from django.urls import reverse

from anju.core.models import Notification
from anju.core.notifications import notify

pytestmark = pytest.mark.django_db

INBOX = reverse("notification-list")
READ = reverse("notifications-read")


@pytest.fixture
def inbox(p):
    """Two unread and one read notification for the agent, one for agent2."""
    first = notify(user=p.agent, title="客户张三已移入公海", body="保护期内没有跟进记录。", url="/customers/1/")
    second = notify(user=p.agent, title="客户李四已转给你", url="/customers/2/")
    old = notify(user=p.agent, title="旧消息")
    Notification.objects.filter(pk=old.pk).update(read_at=first.created_at)
    other = notify(user=p.agent2, title="给赵置业的消息")
    return {"first": first, "second": second, "old": old, "other": other}


def listed(response) -> list[int]:
    return [notification.pk for notification in response.context["page_obj"]]


def test_inbox_lists_only_own_notifications_newest_first(p, login, inbox):
    response = login(p.agent).get(INBOX)

    assert response.status_code == 200
    assert listed(response) == [inbox["old"].pk, inbox["second"].pk, inbox["first"].pk]
    assert "给赵置业的消息" not in response.content.decode()


@pytest.mark.parametrize("persona", ["admin", "auditor", "manager"])
def test_wide_data_scope_does_not_open_other_inboxes(p, login, inbox, persona):
    response = login(getattr(p, persona)).get(INBOX)
    assert listed(response) == []


def test_unread_are_bold_and_link_to_their_page(p, login, inbox):
    content = login(p.agent).get(INBOX).content.decode()
    assert content.count('data-read="no"') == 2 and content.count('data-read="yes"') == 1
    assert content.count('<div class="fw-bold">') == 2
    assert 'href="/customers/1/"' in content and 'href="/customers/2/"' in content


def test_link_leaving_the_site_is_not_rendered(p, login):
    notify(user=p.agent, title="可疑链接", url="https://evil.example.com/")
    content = login(p.agent).get(INBOX).content.decode()
    assert "evil.example.com" not in content and "可疑链接" in content


def test_mark_all_read_marks_only_own_notifications(p, login, inbox):
    response = login(p.agent).post(READ)

    assert response.status_code == 302 and response["Location"] == INBOX
    assert not Notification.objects.filter(user=p.agent, read_at__isnull=True).exists()
    assert Notification.objects.get(pk=inbox["other"].pk).read_at is None


def test_mark_one_read(p, login, inbox):
    login(p.agent).post(READ, {"id": inbox["first"].pk})

    assert Notification.objects.get(pk=inbox["first"].pk).read_at is not None
    assert Notification.objects.get(pk=inbox["second"].pk).read_at is None


def test_marking_someone_elses_notification_changes_nothing(p, login, inbox):
    login(p.agent).post(READ, {"id": inbox["other"].pk})
    assert Notification.objects.get(pk=inbox["other"].pk).read_at is None
    assert Notification.objects.filter(user=p.agent, read_at__isnull=True).count() == 2


def test_mark_read_needs_post(p, login, inbox):
    assert login(p.agent).get(READ).status_code == 405
    assert Notification.objects.filter(user=p.agent, read_at__isnull=True).count() == 2


def test_bell_shows_the_unread_count(p, login, inbox):
    client = login(p.agent)
    content = client.get(reverse("home")).content.decode()
    assert f'href="{INBOX}"' in content
    assert 'data-testid="notification-count">2<' in content

    client.post(READ)
    content = client.get(reverse("home")).content.decode()
    assert 'data-testid="notification-bell"' in content
    assert 'data-testid="notification-count"' not in content


def test_bell_counts_only_own_unread(p, login, inbox):
    content = login(p.agent2).get(reverse("home")).content.decode()
    assert 'data-testid="notification-count">1<' in content


def test_bell_costs_one_query(p, login, inbox, django_assert_num_queries):
    from anju.core.context_processors import navigation

    class Request:
        user = p.agent

    context = navigation(Request())
    with django_assert_num_queries(1):
        assert context["unread_notifications"] == 2
        assert str(context["unread_notifications"]) == "2"


def test_anonymous_is_redirected_to_login(client, inbox):
    for response in (client.get(INBOX), client.post(READ)):
        assert response.status_code == 302 and "/login/" in response["Location"]
    assert Notification.objects.filter(read_at__isnull=True).count() == 3


def test_login_page_has_no_bell(client):
    content = client.get(reverse("login")).content.decode()
    assert "notification-bell" not in content
