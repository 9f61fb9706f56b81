"""Communication log (R2.2.1) and feedback with time to first response (R2.3.3)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from anju.core.errors import ApplicationError
from anju.core.models import AuditEvent, Notification
from anju.customers.models import Communication, Customer, Feedback, Visit
from anju.customers.services.communications import (
    communication_create,
    communication_record,
    feedback_record,
    feedback_respond,
)
from anju.customers.services.followups import followup_complete, followup_create

pytestmark = pytest.mark.django_db

EN = {"Accept-Language": "en"}
ALL_FIELDS = {
    "channel": "face_to_face",
    "summary": "介绍了三居室户型和付款方式",
    "info_core": "总价 320 万，首付三成",
    "info_auxiliary": "周边有地铁 2 号线",
    "info_supplementary": "明年 6 月交房",
    "materials": "楼书、户型图",
    "customer_confirmed": True,
    "next_step": "周六带家人来看样板间",
}


def test_communication_is_recorded_with_all_fields_audited_and_extends_protection(p, register, monkeypatch):
    customer = register(p.agent, phone="13812345678")
    visit = Visit.objects.create(
        customer=customer, branch=p.branch_a, arrived_at=timezone.now(), is_first_visit=True, registered_by=p.agent
    )
    before = Customer.objects.get(pk=customer.pk).protected_until
    later = timezone.now() + timedelta(days=5)
    monkeypatch.setattr(timezone, "now", lambda: later)

    communication = communication_record(actor=p.agent, customer=customer, visit=visit, **ALL_FIELDS)

    saved = Communication.objects.get(pk=communication.pk)
    assert {name: getattr(saved, name) for name in ALL_FIELDS} == ALL_FIELDS
    assert (saved.visit, saved.recorded_by, saved.occurred_at) == (visit, p.agent, later)
    assert Customer.objects.get(pk=customer.pk).protected_until == later + timedelta(days=30) > before
    event = AuditEvent.objects.get(action="customers.communication.recorded")
    assert event.actor == p.agent and event.after["channel"] == "face_to_face"
    assert event.after["communication"] == saved.pk and event.after["customer_confirmed"] is True
    assert "5678" not in str(event.after) and "5678" not in event.target_repr


def test_contact_by_someone_other_than_the_owner_does_not_extend_protection(p, register):
    customer = register(p.agent)
    before = Customer.objects.get(pk=customer.pk).protected_until

    communication_record(
        actor=p.cs,
        customer=customer,
        channel="phone",
        summary="客服回电解答贷款问题",
        occurred_at=timezone.now() + timedelta(minutes=1),
    )

    assert Customer.objects.get(pk=customer.pk).protected_until == before


def test_communication_needs_a_summary_and_a_time_not_in_the_future(p, register):
    customer = register(p.agent)
    with pytest.raises(ApplicationError) as no_summary:
        communication_record(actor=p.agent, customer=customer, channel="phone", summary="  ")
    with pytest.raises(ApplicationError) as future:
        communication_record(
            actor=p.agent,
            customer=customer,
            channel="phone",
            summary="电话",
            occurred_at=timezone.now() + timedelta(hours=2),
        )
    with pytest.raises(ApplicationError) as bad_channel:
        communication_record(actor=p.agent, customer=customer, channel="fax", summary="传真")
    assert "summary" in no_summary.value.fields
    assert "occurred_at" in future.value.fields
    assert "channel" in bad_channel.value.fields
    assert not Communication.objects.exists()


def test_visit_of_another_customer_is_refused(p, register):
    customer, other = register(p.agent), register(p.agent)
    visit = Visit.objects.create(
        customer=other, branch=p.branch_a, arrived_at=timezone.now(), is_first_visit=True, registered_by=p.agent
    )
    with pytest.raises(ApplicationError) as refused:
        communication_record(actor=p.agent, customer=customer, channel="phone", summary="电话", visit=visit)
    assert refused.value.code == "communication.visit_mismatch"


def test_out_of_scope_customer_is_not_found(login, p, register):
    customer = register(p.agent)
    with pytest.raises(ApplicationError) as refused:
        communication_record(actor=p.agent2, customer=customer, channel="phone", summary="电话")
    assert refused.value.status == 404
    page = login(p.agent2).post(reverse("customers:communication-create", args=[customer.pk]), ALL_FIELDS)
    assert page.status_code == 404
    assert not Communication.objects.exists()


# --- communication_create guards itself ---------------------------------------------------------

RECORDED = "customers.communication.recorded"


def _nothing_written() -> bool:
    return not Communication.objects.exists() and not AuditEvent.objects.filter(action=RECORDED).exists()


def test_agent_of_another_team_calling_communication_create_directly_gets_not_found(p, register):
    customer = register(p.agent)

    with pytest.raises(ApplicationError) as refused:
        communication_create(actor=p.agent2, customer=customer, channel="phone", summary="电话")

    assert (refused.value.code, refused.value.status) == ("not_found", 404)
    assert _nothing_written()


def test_communication_create_without_the_permission_is_refused(p, register):
    customer = register(p.agent)
    assert not p.legal.has_perm("customers.change_customer")

    with pytest.raises(ApplicationError) as refused:
        communication_create(actor=p.legal, customer=customer, channel="phone", summary="电话")

    assert (refused.value.code, refused.value.status) == ("permission_denied", 403)
    assert _nothing_written()


def test_communication_create_in_scope_writes_the_row_and_audits_it_once(p, register):
    customer = register(p.agent)

    communication = communication_create(actor=p.lead, customer=customer, channel="phone", summary="组长回访")

    saved = Communication.objects.get()
    assert saved.pk == communication.pk and (saved.customer, saved.recorded_by) == (customer, p.lead)
    assert [event.after["communication"] for event in AuditEvent.objects.filter(action=RECORDED)] == [saved.pk]


def test_logging_a_contact_writes_one_audit_event(p, register):
    customer = register(p.agent)

    communication = communication_record(actor=p.agent, customer=customer, channel="phone", summary="电话")

    naming = [event.action for event in AuditEvent.objects.all() if (event.after or {}).get("communication")]
    assert naming == [RECORDED]
    assert AuditEvent.objects.get(action=RECORDED).after["communication"] == communication.pk


def test_completing_a_follow_up_audits_its_communication_once(p, register):
    customer = register(p.agent)
    task = followup_create(actor=p.agent, customer=customer, due_at=timezone.now() + timedelta(hours=1))

    followup_complete(actor=p.agent, task=task, outcome="reached", method="phone", content="已回访")

    task.refresh_from_db()
    naming = [
        event.action
        for event in AuditEvent.objects.all()
        if (event.after or {}).get("communication") == task.communication_id
    ]
    assert naming == ["customers.followup.completed"]


def test_communication_form_permission_matrix(client, login, p, register):
    customer = register(p.agent)
    url = reverse("customers:communication-create", args=[customer.pk])
    assert client.get(url).status_code == 302  # anonymous → login
    assert login(p.legal).get(url).status_code == 403  # may view customers, not log contacts
    assert login(p.agent3).get(url).status_code == 404  # another branch
    assert login(p.agent2).get(url).status_code == 404  # another team
    for allowed in (p.agent, p.lead, p.manager, p.cs):
        assert login(allowed).get(url).status_code == 200


def test_communication_form_records_every_field(login, p, register):
    customer = register(p.agent)
    Visit.objects.create(
        customer=customer, branch=p.branch_a, arrived_at=timezone.now(), is_first_visit=True, registered_by=p.agent
    )
    client = login(p.agent)
    url = reverse("customers:communication-create", args=[customer.pk])
    visit = Visit.objects.get(customer=customer)
    form_page = client.get(url, {"visit": visit.pk}, headers=EN)  # the reception desk's link
    assert re.search(rf'<option value="{visit.pk}" selected>', form_page.content.decode())
    occurred = timezone.localtime() - timedelta(minutes=30)

    response = client.post(
        url, {**ALL_FIELDS, "customer_confirmed": "on", "occurred_at": occurred.strftime("%Y-%m-%dT%H:%M")}
    )

    assert response.status_code == 302
    assert response["Location"] == reverse("customers:customer-detail", args=[customer.pk])
    saved = Communication.objects.get()
    assert saved.summary == ALL_FIELDS["summary"] and saved.customer_confirmed is True
    assert timezone.localtime(saved.occurred_at).strftime("%H:%M") == occurred.strftime("%H:%M")


def test_communication_form_shows_field_errors(login, p, register):
    customer = register(p.agent)
    response = login(p.agent).post(
        reverse("customers:communication-create", args=[customer.pk]),
        {"channel": "phone", "summary": "", "occurred_at": ""},
        headers=EN,
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert 'data-testid="error-summary"' in html and 'data-testid="error-occurred_at"' in html


# --- feedback -----------------------------------------------------------------------------------


def test_feedback_response_time_is_measured_from_receipt(p, register, monkeypatch):
    customer = register(p.agent)
    received = timezone.now() - timedelta(hours=2)
    feedback = feedback_record(
        actor=p.agent,
        customer=customer,
        channel="online",
        category="price",
        content="能不能申请公积金贷款？",
        received_at=received,
    )
    answered_at = timezone.now()
    monkeypatch.setattr(timezone, "now", lambda: answered_at)

    feedback_respond(actor=p.agent, feedback=feedback, response="可以，组合贷也支持")
    monkeypatch.setattr(timezone, "now", lambda: answered_at + timedelta(hours=1))
    feedback_respond(actor=p.cs, feedback=feedback, response="已发送公积金贷款材料清单", resolved=True)

    feedback.refresh_from_db()
    assert feedback.first_response_at == answered_at
    assert feedback.response_seconds == int((answered_at - received).total_seconds())
    assert feedback.resolved_at == answered_at + timedelta(hours=1)
    assert "可以，组合贷也支持" in feedback.response and "材料清单" in feedback.response
    with pytest.raises(ApplicationError) as closed:
        feedback_respond(actor=p.agent, feedback=feedback, response="补充")
    assert closed.value.code == "feedback.resolved"
    actions = list(
        AuditEvent.objects.filter(action__startswith="customers.feedback")
        .order_by("seq")
        .values_list("action", flat=True)
    )
    assert actions == ["customers.feedback.recorded", "customers.feedback.responded", "customers.feedback.responded"]


def test_feedback_goes_to_the_owner_who_is_notified(p, register):
    customer = register(p.agent)
    feedback = feedback_record(
        actor=p.cs, customer=customer, channel="phone", category="question", content="交房时间会推迟吗？"
    )
    assert feedback.handler == p.agent and feedback.recorded_by == p.cs
    notice = Notification.objects.get(user=p.agent)
    assert notice.url == reverse("customers:feedback-respond", args=[feedback.pk])


def test_feedback_handler_outside_scope_is_refused(p, register):
    customer = register(p.agent)
    with pytest.raises(ApplicationError) as refused:
        feedback_record(
            actor=p.agent, customer=customer, channel="phone", category="question", content="问题", handler=p.agent2
        )
    assert refused.value.status == 404
    assert not Feedback.objects.exists()


def test_feedback_list_shows_open_feedback_with_response_times(login, p, register):
    customer = register(p.agent, name="周先生")
    waiting = feedback_record(
        actor=p.cs,
        customer=customer,
        channel="phone",
        category="question",
        content="车位还有吗？",
        received_at=timezone.now() - timedelta(minutes=90),
    )
    answered = feedback_record(
        actor=p.cs,
        customer=customer,
        channel="online",
        category="service",
        content="样板间几点开放？",
        received_at=timezone.now() - timedelta(hours=3),
    )
    Feedback.objects.filter(pk=answered.pk).update(first_response_at=answered.received_at + timedelta(minutes=45))
    feedback_record(actor=p.agent2, customer=register(p.agent2), channel="phone", category="price", content="别的组")

    response = login(p.cs).get(reverse("customers:feedback-list"), headers=EN)
    html = response.content.decode()

    rows = [item.pk for item in response.context["page_obj"]]
    assert rows[0] == waiting.pk and answered.pk in rows and len(rows) == 3  # cs sees the branch
    assert "45 min" in html and "waiting 1 h 30 min" in html
    assert re.search(r'data-testid="stat-feedback-open">3<', html)
    assert re.search(r'data-testid="stat-feedback-avg">45 min<', html)
    own = login(p.agent).get(reverse("customers:feedback-list"))
    assert {item.pk for item in own.context["page_obj"]} == {waiting.pk, answered.pk}


def test_customer_service_home_shows_open_feedback_and_average_response(login, p, register):
    customer = register(p.agent)
    for minutes in (30, 90):
        item = feedback_record(
            actor=p.cs,
            customer=customer,
            channel="phone",
            category="question",
            content="问",
            received_at=timezone.now() - timedelta(hours=3),
        )
        Feedback.objects.filter(pk=item.pk).update(first_response_at=item.received_at + timedelta(minutes=minutes))
    feedback_record(actor=p.cs, customer=customer, channel="phone", category="question", content="还没回")

    html = login(p.cs).get(reverse("home"), headers=EN).content.decode()

    assert re.search(r'data-testid="stat-feedback-open">3<', html)
    assert re.search(r'data-testid="stat-feedback-unanswered">1<', html)
    assert re.search(r'data-testid="stat-feedback-avg-response">1 h 0 min<', html)


def test_feedback_pages_permission_matrix(client, login, p, register):
    customer = register(p.agent)
    feedback = feedback_record(actor=p.agent, customer=customer, channel="phone", category="question", content="问")
    create = reverse("customers:feedback-create", args=[customer.pk])
    respond = reverse("customers:feedback-respond", args=[feedback.pk])
    listing = reverse("customers:feedback-list")
    for url in (create, respond, listing):
        assert client.get(url).status_code == 302
    assert login(p.legal).get(create).status_code == 403
    assert login(p.legal).get(respond).status_code == 403
    assert login(p.legal).get(listing).status_code == 200  # read-only list
    assert login(p.agent2).get(create).status_code == 404
    assert login(p.agent2).get(respond).status_code == 404
    for allowed in (p.agent, p.cs, p.manager):
        assert login(allowed).get(create).status_code == 200
        assert login(allowed).get(respond).status_code == 200


def test_feedback_form_and_answer_page(login, p, register):
    customer = register(p.agent)
    client = login(p.cs)
    received = timezone.localtime() - timedelta(hours=1)
    created = client.post(
        reverse("customers:feedback-create", args=[customer.pk]),
        {
            "channel": "phone",
            "category": "listing",
            "content": "3 号楼还有南向房源吗？",
            "received_at": received.strftime("%Y-%m-%dT%H:%M"),
            "handler": "",
        },
    )
    feedback = Feedback.objects.get()
    answered = client.post(
        reverse("customers:feedback-respond", args=[feedback.pk]), {"response": "还有两套，已约看房", "resolved": "on"}
    )

    assert created.status_code == 302 and answered.status_code == 302
    feedback.refresh_from_db()
    assert feedback.handler == p.agent and feedback.category == "listing"
    assert feedback.first_response_at is not None and feedback.resolved_at is not None
    assert 55 * 60 <= feedback.response_seconds <= 61 * 60
