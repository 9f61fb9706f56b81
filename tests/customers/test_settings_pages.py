"""The branch rules page: protection days, pool cap, reception limit and the follow-up plan."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from anju.core.errors import ApplicationError
from anju.core.models import AuditEvent
from anju.customers.choices import VisitStatus
from anju.customers.models import BranchCustomerSettings, FollowUpRule, FollowUpTask, Visit
from anju.customers.services.followups import followup_rules_save, followups_generate, rules_for

pytestmark = pytest.mark.django_db

EN = {"Accept-Language": "en"}


def url_for(branch) -> str:
    return reverse("customers:branch-settings", args=[branch.pk])


def post_data(rules: list[tuple[str, int | str, bool]], *, extra_blank: bool = True, **numbers) -> dict:
    """The page's form: the three numbers plus the first-visit plan's rows (prefix "first_visit")."""
    data = {"protection_days": 30, "pool_claim_cap": 20, "reception_sla_minutes": 15, **numbers}
    rows = [*rules, ("", "", True)] if extra_blank else rules
    data.update(
        {
            "first_visit-TOTAL_FORMS": len(rows),
            "first_visit-INITIAL_FORMS": len(rules),
            "first_visit-MIN_NUM_FORMS": 0,
            "first_visit-MAX_NUM_FORMS": 10,
        }
    )
    for index, (title, hours, active) in enumerate(rows):
        data[f"first_visit-{index}-title"] = title
        data[f"first_visit-{index}-due_after_hours"] = hours
        if active:
            data[f"first_visit-{index}-is_active"] = "on"
    return data


def finished_first_visit(customer, *, ended_at):
    return Visit.objects.create(
        customer=customer,
        branch=customer.branch,
        arrived_at=ended_at - timedelta(hours=1),
        is_first_visit=True,
        status=VisitStatus.DONE,
        reception_ended_at=ended_at,
        registered_by=customer.owner,
    )


def test_manager_sees_the_current_numbers_and_the_standard_plan(login, p):
    response = login(p.manager).get(url_for(p.branch_a), headers=EN)
    html = response.content.decode()
    assert response.status_code == 200
    assert 'value="30"' in html and 'value="20"' in html and 'value="15"' in html
    assert "First follow-up" in html and "Second follow-up" in html and "Revisit" in html
    assert 'data-testid="plan-defaults"' in html
    assert not FollowUpRule.objects.exists()  # showing the defaults writes nothing


def test_manager_changes_protection_days_and_rules_the_job_then_uses(login, p, register):
    client = login(p.manager)
    response = client.post(
        url_for(p.branch_a),
        post_data([("当天回访", 4, True), ("两天后", 48, True), ("已停用", 96, False)], protection_days=45),
    )

    assert response.status_code == 302
    saved = BranchCustomerSettings.objects.get(branch=p.branch_a)
    assert (saved.protection_days, saved.pool_claim_cap, saved.reception_sla_minutes) == (45, 20, 15)
    assert list(
        FollowUpRule.objects.filter(branch=p.branch_a).values_list("step", "title", "due_after_hours", "is_active")
    ) == [
        (1, "当天回访", 4, True),
        (2, "两天后", 48, True),
        (3, "已停用", 96, False),
    ]
    assert AuditEvent.objects.filter(action="customers.settings.saved", actor=p.manager).exists()
    assert AuditEvent.objects.filter(action="customers.followup_rules.saved", actor=p.manager).exists()

    customer = register(p.agent)
    assert customer.protected_until - timezone.now() > timedelta(days=44)
    ended = timezone.now() - timedelta(hours=1)
    finished_first_visit(customer, ended_at=ended)
    assert followups_generate() == 2
    assert list(FollowUpTask.objects.order_by("step").values_list("title", "due_at")) == [
        ("当天回访", ended + timedelta(hours=4)),
        ("两天后", ended + timedelta(hours=48)),
    ]


def test_other_branches_keep_the_standard_plan(p, register):
    followup_rules_save(
        actor=p.manager,
        branch=p.branch_a,
        plan="first_visit",
        rules=[{"title": "只回访一次", "due_after_hours": 12, "is_active": True}],
    )
    customer = register(p.agent3)
    finished_first_visit(customer, ended_at=timezone.now() - timedelta(hours=1))
    assert followups_generate() == 3
    assert [rule.due_after_hours for rule in rules_for(p.branch_b, "first_visit")] == [24, 72, 168]


def test_a_plan_with_every_step_paused_creates_no_tasks(p, register):
    followup_rules_save(
        actor=p.manager,
        branch=p.branch_a,
        plan="first_visit",
        rules=[{"title": "暂停", "due_after_hours": 24, "is_active": False}],
    )
    finished_first_visit(register(p.agent), ended_at=timezone.now() - timedelta(hours=1))
    assert followups_generate() == 0


def test_removing_every_step_restores_the_standard_plan(login, p):
    followup_rules_save(
        actor=p.manager,
        branch=p.branch_a,
        plan="first_visit",
        rules=[{"title": "只回访一次", "due_after_hours": 12, "is_active": True}],
    )
    data = post_data([("只回访一次", 12, True)])
    data["first_visit-0-DELETE"] = "on"

    assert login(p.manager).post(url_for(p.branch_a), data).status_code == 302
    assert not FollowUpRule.objects.exists()
    assert [rule.due_after_hours for rule in rules_for(p.branch_a, "first_visit")] == [24, 72, 168]


def test_default_titles_posted_back_unchanged_stay_translatable(login, p):
    client = login(p.manager)
    page = client.get(url_for(p.branch_a))  # in Chinese: the titles are shown translated
    formset = page.context["plans"][0]["formset"]
    rules = [(form.initial["title"], form.initial["due_after_hours"], True) for form in formset.forms if form.initial]

    assert client.post(url_for(p.branch_a), post_data(rules)).status_code == 302
    assert list(FollowUpRule.objects.values_list("title", flat=True)) == [
        "First follow-up",
        "Second follow-up",
        "Revisit",
    ]


def test_invalid_rules_are_refused_and_nothing_is_saved(login, p):
    client = login(p.manager)
    duplicate = client.post(
        url_for(p.branch_a), post_data([("一", 24, True), ("二", 24, True)], protection_days=60), headers=EN
    )
    half_filled = client.post(url_for(p.branch_a), post_data([("没有时间", "", True)]), headers=EN)
    bad_number = client.post(url_for(p.branch_a), post_data([], protection_days=0), headers=EN)

    assert duplicate.status_code == 200 and 'data-testid="rules-errors"' in duplicate.content.decode()
    assert half_filled.status_code == 200 and "or remove it" in half_filled.content.decode()
    assert bad_number.status_code == 200 and 'data-testid="error-protection_days"' in bad_number.content.decode()
    # The numbers were valid in the first post, but the save is one: nothing was kept.
    assert not BranchCustomerSettings.objects.exists()
    assert not FollowUpRule.objects.exists()


def test_service_refuses_without_the_settings_permission(p):
    with pytest.raises(ApplicationError) as refused:
        followup_rules_save(actor=p.lead, branch=p.branch_a, plan="first_visit", rules=[])
    assert refused.value.status == 403


@pytest.mark.parametrize("persona", ["agent", "lead", "cs", "legal", "auditor"])
def test_people_without_the_settings_permission_get_403(login, p, persona):
    assert login(getattr(p, persona)).get(url_for(p.branch_a)).status_code == 403


def test_anonymous_is_sent_to_login(client, p):
    assert client.get(url_for(p.branch_a)).status_code == 302


def test_another_branch_is_not_found_for_a_branch_manager(login, p):
    client = login(p.manager)
    assert client.get(url_for(p.branch_b)).status_code == 404
    assert client.post(url_for(p.branch_b), post_data([], protection_days=90)).status_code == 404
    assert not BranchCustomerSettings.objects.exists()


def test_administrator_edits_any_branch(login, p):
    response = login(p.admin).post(url_for(p.branch_b), post_data([], pool_claim_cap=5))
    assert response.status_code == 302
    assert BranchCustomerSettings.objects.get(branch=p.branch_b).pool_claim_cap == 5
