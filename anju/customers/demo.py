"""Demo customers for ``seed_demo`` (issue #3): every stage, visits today, due and overdue
follow-ups, communications, feedback and a public pool — all written through the services.

Only one thing is not done through a service: putting events in the past ("this visit was
three days ago"). Services stamp ``now``; the demo needs history, so after a record is
written its timestamps are moved back with a plain ``update()``, before the job that reads
them (follow-up planning, protection lapse) runs. That is demo history, never business logic.
"""

from __future__ import annotations

import datetime as dt

from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from anju.org.choices import RoleCode
from anju.org.models import User

from .choices import Channel, FeedbackCategory, FollowUpOutcome, Stage
from .models import Customer, FollowUpTask, Visit
from .services import communications, customers, followups, ownership, reception

# The lifecycle path walked to reach each stage (state machine of choices.STAGE_TRANSITIONS).
STAGE_PATHS: dict[str, list[str]] = {
    Stage.LEAD: [],
    Stage.VISITED: [Stage.VISITED],
    Stage.INTENTION: [Stage.VISITED, Stage.INTENTION],
    Stage.RESERVED: [Stage.VISITED, Stage.INTENTION, Stage.RESERVED],
    Stage.SIGNED: [Stage.VISITED, Stage.INTENTION, Stage.RESERVED, Stage.SIGNED],
    Stage.HANDED_OVER: [Stage.VISITED, Stage.INTENTION, Stage.RESERVED, Stage.SIGNED, Stage.HANDED_OVER],
    Stage.AFTER_SALES: [
        Stage.VISITED,
        Stage.INTENTION,
        Stage.RESERVED,
        Stage.SIGNED,
        Stage.HANDED_OVER,
        Stage.AFTER_SALES,
    ],
    Stage.LOST: [Stage.LOST],
}
SOURCES = ["walk_in", "phone", "online", "referral", "broker", "event"]
TAGS = ["学区需求", "改善型", "首套", "投资客", "老带新", "急需入住"]
DISTRICTS = ["滨江区", "西湖区", "上城区", "拱墅区", "余杭区"]


def _agents(branch) -> list[User]:
    return list(
        User.objects.filter(branch=branch, status="active", roles__code="sales_agent").order_by("username").distinct()
    )


def _register(ctx, agent: User, *, stage: str = Stage.LEAD, **extra) -> Customer:
    faker = ctx.faker
    budget = faker.random_int(150, 600)
    customer = customers.customer_register(
        actor=agent,
        name=extra.pop("name", None) or faker.name(),
        phone=ctx.unique_phone(),
        source=faker.random_element(SOURCES),
        consent_channel=faker.random_element(["face_to_face", "phone", "online"]),
        gender=faker.random_element(["male", "female", "unknown"]),
        budget_min=budget,
        budget_max=budget + faker.random_int(30, 200),
        value_tier=faker.random_element(["A", "B", "C", "C", "D"]),
        tags=faker.random_elements(TAGS, length=faker.random_int(0, 2), unique=True),
        household_notes=faker.random_element(
            ["三口之家，孩子明年上小学", "夫妻二人，计划两年内要孩子", "与父母同住", ""]
        ),
        **extra,
    )
    for target in STAGE_PATHS[stage]:
        reason = "预算不足，已在其他项目购房" if target == Stage.LOST else ""
        customers.customer_change_stage(actor=agent, customer=customer, to_stage=target, lost_reason=reason)
    return customer


def _needs(ctx, agent: User, customer: Customer) -> None:
    faker = ctx.faker
    rooms = faker.random_int(2, 4)
    customers.needs_update(
        actor=agent,
        customer=customer,
        purpose="buy",
        usage=faker.random_element(["own_home", "upgrade", "education"]),
        districts=faker.random_elements(DISTRICTS, length=2, unique=True),
        environment="安静、绿化好",
        community="物业口碑好，有儿童活动区",
        needs_school=faker.boolean(),
        needs_transit=True,
        needs_hospital=faker.boolean(),
        rooms_min=rooms,
        rooms_max=rooms + 1,
        floor_min=3,
        floor_max=20,
        orientation="south",
        area_min=80 + rooms * 10,
        area_max=120 + rooms * 15,
        price_min=customer.budget_min,
        price_max=customer.budget_max,
        payment="mortgage",
        notes="首次到访，重点关注学区与通勤时间",
    )


def _past_first_visit(ctx, desk: User, customer: Customer, *, days_ago: float) -> Visit:
    """A first visit received and finished ``days_ago`` days ago (then backdated, see module doc)."""
    visit = reception.visit_register(
        actor=desk, branch=customer.branch, phone=customer.phone, name=customer.name, party_size=2
    )
    agent = visit.assigned_to
    reception.visit_start_reception(actor=agent, visit=visit)
    reception.visit_end_reception(
        actor=agent, visit=visit, presented="项目区位、配套与主力户型", questions="首付比例、交房时间"
    )
    arrived = timezone.now() - dt.timedelta(days=days_ago)
    Visit.objects.filter(pk=visit.pk).update(
        arrived_at=arrived,
        reception_started_at=arrived + dt.timedelta(minutes=ctx.faker.random_int(2, 14)),
        reception_ended_at=arrived + dt.timedelta(minutes=ctx.faker.random_int(40, 70)),
    )
    return visit


def _rosters(ctx) -> None:
    """Each office's manager (案场经理 / 门店经理) sets today's rotation: it takes customers.manage_rotation."""
    today = reception.rotation_day()
    for key in ("a", "b"):
        branch = ctx.branches[key]
        manager = User.objects.filter(branch=branch, roles__code=RoleCode.BRANCH_MANAGER).order_by("pk").first()
        reception.roster_set(actor=manager, branch=branch, day=today, agents=_agents(branch))


def _todays_desk(ctx, desk: User, branch) -> None:
    """Visitors at the desk now: one finished, one in reception, one waiting 20 minutes (flagged)."""
    now = timezone.now()
    finished = reception.visit_register(
        actor=desk,
        branch=branch,
        phone=ctx.unique_phone(),
        name=ctx.faker.name(),
        party_size=3,
        arrived_at=now - dt.timedelta(hours=2),
    )
    reception.visit_start_reception(actor=finished.assigned_to, visit=finished)
    reception.visit_end_reception(
        actor=finished.assigned_to, visit=finished, presented="样板间、沙盘", questions="车位配比"
    )
    Visit.objects.filter(pk=finished.pk).update(
        reception_started_at=now - dt.timedelta(minutes=113), reception_ended_at=now - dt.timedelta(minutes=62)
    )
    receiving = reception.visit_register(
        actor=desk,
        branch=branch,
        phone=ctx.unique_phone(),
        name=ctx.faker.name(),
        arrived_at=now - dt.timedelta(minutes=12),
    )
    reception.visit_start_reception(actor=receiving.assigned_to, visit=receiving)
    reception.visit_register(
        actor=desk,
        branch=branch,
        phone=ctx.unique_phone(),
        name=ctx.faker.name(),
        party_size=2,
        arrived_at=now - dt.timedelta(minutes=20),
    )
    reception.visit_register(
        actor=desk,
        branch=branch,
        phone=ctx.unique_phone(),
        name=ctx.faker.name(),
        arrived_at=now - dt.timedelta(minutes=4),
    )


def _history(ctx, agent: User, desk: User) -> None:
    """Customers in every stage, first visits 1–6 days ago with their follow-ups, talks and feedback."""
    faker = ctx.faker
    for stage in STAGE_PATHS:
        for _copy in range(ctx.scale):
            customer = _register(ctx, agent, stage=stage)
            if stage in (Stage.INTENTION, Stage.RESERVED):
                _needs(ctx, agent, customer)
    for days_ago in (0.2, 1.5, 2.5, 5, 6):
        customer = _register(ctx, agent)
        _needs(ctx, agent, customer)
        _past_first_visit(ctx, desk, customer, days_ago=days_ago)
        communications.communication_record(
            actor=agent,
            customer=customer,
            channel=Channel.FACE_TO_FACE,
            summary="介绍项目区位、周边学校与地铁规划，讲解主力户型",
            info_core="价格区间、首付比例、交房时间",
            info_auxiliary="周边配套：学校、医院、商场",
            info_supplementary="物业费与车位配比",
            materials="楼书、户型图、价目表",
            customer_confirmed=True,
            next_step="周末带家人二次到访",
            occurred_at=timezone.now() - dt.timedelta(days=days_ago),
        )
    feedback_customer = _register(ctx, agent, stage=Stage.INTENTION)
    answered = communications.feedback_record(
        actor=agent,
        customer=feedback_customer,
        channel=Channel.PHONE,
        category=FeedbackCategory.PRICE,
        content="询问是否有团购优惠以及公积金贷款额度",
        received_at=timezone.now() - dt.timedelta(hours=5),
    )
    communications.feedback_respond(actor=agent, feedback=answered, response="已说明当前优惠政策与公积金额度测算")
    communications.feedback_record(
        actor=agent,
        customer=feedback_customer,
        channel=Channel.ONLINE,
        category=FeedbackCategory.LISTING,
        content="想了解三号楼东边户的采光情况",
        received_at=timezone.now() - dt.timedelta(hours=faker.random_int(1, 3)),
    )


def _pool(ctx, branch) -> int:
    """Customers whose protection lapsed 40 days after registration without a follow-up."""
    agents = _agents(branch)[-2:]
    lapsed = [_register(ctx, agents[i % len(agents)]) for i in range(3 * ctx.scale)]
    Customer.objects.filter(pk__in=[c.pk for c in lapsed]).update(
        protected_until=timezone.now() - dt.timedelta(days=10), last_contact_at=timezone.now() - dt.timedelta(days=40)
    )
    return len(lapsed)


def seed_customers(ctx) -> None:
    """The customers step of ``seed_demo`` (see ``anju/org/demo.py`` for the step contract)."""
    branch_a, branch_b = ctx.branches["a"], ctx.branches["b"]
    _rosters(ctx)
    desk_a, desk_b = ctx.users["cs"], ctx.actor
    featured = [ctx.users["agent"], ctx.users["agent2"], ctx.users["agent3"]]
    others = [agent for agent in _agents(branch_a) + _agents(branch_b) if agent not in featured]
    for agent in ctx.progress(featured + others[: 2 * ctx.scale], desc="customers", unit="agent"):
        _history(ctx, agent, desk_a if agent.branch_id == branch_a.pk else desk_b)
    _pool(ctx, branch_a)
    _pool(ctx, branch_b)
    ownership.pool_release_lapsed()
    followups.followups_generate()
    # Close the oldest planned follow-ups so each agent also has a completed history.
    done = FollowUpTask.objects.filter(step=1, due_at__lt=timezone.now() - dt.timedelta(days=3))
    for task in done.select_related("assignee", "customer"):
        followups.followup_complete(
            actor=task.assignee,
            task=task,
            outcome=FollowUpOutcome.REACHED,
            method=Channel.PHONE,
            content="电话回访，客户确认已了解付款方式",
        )
    _todays_desk(ctx, desk_a, branch_a)
    _todays_desk(ctx, desk_b, branch_b)
    ctx.summary[_("Customers")] = Customer.objects.filter(in_pool=False).count()
    ctx.summary[_("Public pool")] = Customer.objects.filter(in_pool=True).count()
    ctx.summary[_("Visits today")] = Visit.objects.filter(arrived_at__date=timezone.localdate()).count()
    ctx.summary[_("Open follow-ups")] = FollowUpTask.objects.filter(status="open").count()
    ctx.summary[_("Overdue follow-ups")] = FollowUpTask.objects.filter(
        Q(status="open") & Q(due_at__lt=timezone.now())
    ).count()
