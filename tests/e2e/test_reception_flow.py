"""Browser: a visitor registered at the desk is received, a communication is recorded, and the
first-visit follow-up appears on the agent's follow-up page (issue #3, R2.1, R2.4.2, R6.1.1)."""

import re

import pytest
from playwright.sync_api import expect

from anju.customers.models import Communication, Customer, FollowUpTask, Visit
from anju.customers.services import reception
from anju.testing import make_personas

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def people(transactional_db):
    personas = make_personas()
    reception.roster_set(
        actor=personas.lead, branch=personas.branch_a, day=reception.rotation_day(), agents=[personas.agent]
    )
    return personas


def test_desk_registration_reception_communication_and_follow_up(page, people, log_in):
    log_in(page, "agent")
    page.goto("/customers/reception/")
    expect(page.locator("[data-testid=rotation-queue]")).to_contain_text("李置业")
    expect(page.locator("[data-testid=next-agent]")).to_be_visible()

    form = page.locator("[data-testid=visit-register-form]")
    form.locator("input[name=phone]").fill("139 8765 4321")
    form.locator("input[name=name]").fill("王女士")
    form.locator("input[name=party_size]").fill("2")
    form.locator("button[type=submit]").click()

    page.locator("[data-testid=visit-start]").first.click()
    expect(page.locator("[data-testid=in-reception-visitor]")).to_contain_text("王女士")
    # The phone is masked on the desk.
    expect(page.locator("[data-testid=desk-board]")).not_to_contain_text("13987654321")
    page.locator("[data-testid=visit-end]").first.click()
    page.locator("[data-testid=visit-end-form] textarea").first.fill("区位、配套、价格依次介绍，参观样板间")
    page.click("[data-testid=visit-end-submit]")
    expect(page.locator("[data-testid=finished-visitor]")).to_contain_text("王女士")

    page.locator("[data-testid=record-communication]").first.click()
    comm = page.locator("[data-testid=communication-form]")
    comm.locator("textarea[name=summary]").fill("面对面介绍三居室户型，客户关注学区")
    comm.locator("textarea[name=info_core]").fill("总价、首付比例、交房时间")
    comm.locator("input[name=customer_confirmed]").check()
    comm.locator("input[name=next_step]").fill("三天内电话确认二次到访时间")
    comm.locator("button[type=submit]").click()
    expect(page).to_have_url(re.compile(r"/customers/\d+/$"))

    customer = Customer.objects.get(name="王女士")
    assert customer.owner == people.agent
    assert Communication.objects.filter(customer=customer, customer_confirmed=True).count() == 1
    assert FollowUpTask.objects.filter(customer=customer, plan="first_visit").count() == 3

    page.goto("/customers/followups/?tab=upcoming")
    expect(page.locator("[data-testid=followup-table]")).to_contain_text("王女士")


def test_lead_skips_and_reassigns_on_a_phone_and_the_rotation_log_lists_it(phone_page, people, log_in):
    """R6.1.1, issue #9: the lead's skip and reassignment are listed in the rotation log (轮接记录) on a 390 px phone."""
    p = people
    reception.roster_set(actor=p.lead, branch=p.branch_a, day=reception.rotation_day(), agents=[p.agent, p.agent2])
    visit = reception.visit_register(actor=p.cs, branch=p.branch_a, phone="13987654322", name="陈先生")
    assert visit.assigned_to == p.agent
    log_in(phone_page, "lead")
    phone_page.goto("/customers/reception/")
    log = phone_page.locator("[data-testid=rotation-log]")
    expect(log.locator("[data-testid=rotation-log-empty]")).to_be_visible()

    row = phone_page.locator("[data-testid=roster-row][data-agent=agent2]")
    row.locator("[data-testid=roster-skip]").click()
    row.locator("[data-testid=roster-skip-form] input[name=reason]").fill("正在接听客户电话")
    row.locator("[data-testid=roster-skip-form] button[type=submit]").click()
    expect(log).to_contain_text("跳过了 赵置业 的轮次")

    waiting = phone_page.locator(f"[data-testid=waiting-visitor][data-visit='{visit.pk}']")
    waiting.locator("[data-testid=visit-assign]").click()
    form = waiting.locator("[data-testid=visit-assign-form]")
    form.locator("select[name=agent]").select_option(str(p.agent2.pk))
    form.locator("input[name=reason]").fill("李置业在签约室")
    form.locator("button[type=submit]").click()
    expect(log.locator("[data-testid=rotation-log-entry]")).to_have_count(2)
    expect(log).to_contain_text("从 李置业 改派给 赵置业")
    expect(log).to_contain_text("李置业在签约室")
    # Nothing on the desk is wider than the phone.
    assert phone_page.evaluate("document.documentElement.scrollWidth") <= 390
    assert Visit.objects.get(pk=visit.pk).assigned_to == p.agent2
