"""Demo data: a realistic Chinese company for trying Anju out (``manage.py seed_demo``).

The org part has the same shape as the test personas in ``anju/testing.py``::

    安居地产集团有限公司
    └── 华东区域 (region, R-EAST)               qa, admin, auditor
        ├── 滨江壹号案场 (sales office, A-BINJIANG) manager, cs, legal, finance
        │   ├── 滨江一组   lead (team lead), agent + extra agents
        │   └── 滨江二组   agent2 + extra agents (one of them suspended)
        └── 西湖门店 (store, B-XIHU)              an extra store manager and CS rep
            ├── 西湖一组   agent3 + extra agents
            └── 西湖二组   extra agents

How it runs
-----------
:func:`seed` opens one transaction and the request context ``source="cli"``, creates the
``admin`` user directly (the only row written outside a service, with its own audit event),
then calls every step of :data:`SEED_STEPS` in order. A failure anywhere rolls everything
back. Every step writes through the services with ``actor=ctx.actor`` (the administrator),
so each row has its audit event.

Extending the seed (later issues)
---------------------------------
A step is a function ``step(ctx: SeedContext) -> None``. Add it to :data:`SEED_STEPS`, as a
dotted path when it lives in another app (``"anju.customers.demo.seed_customers"``), so
``anju.org`` does not import the apps that build on it. A step finds what earlier steps made
on the context:

* ``ctx.company``; ``ctx.branches["region" | "a" | "b"]``;
  ``ctx.teams["a1" | "a2" | "b1" | "b2"]``;
* ``ctx.users[username]`` — every seeded user, the fixed logins (``agent``, ``agent2``,
  ``agent3``, ``cs``, ``lead``, ``manager``, ``legal``, ``finance``, ``qa``, ``admin``,
  ``auditor``) and the extra staff (usernames ``aj0012`` …);
* ``ctx.faker`` (``Faker("zh_CN")``, seeded, so runs are repeatable);
* ``ctx.scale`` — multiply the step's volume by it; ``ctx.progress(iterable, desc=...)``
  wraps a loop in a progress bar on stderr;
* ``ctx.summary[label] = count`` — lines for the summary the command prints at the end.

Keep fixed, named records (the ones a demo walks through) deterministic, and draw the bulk
from ``ctx.faker``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import IO, Any

from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.module_loading import import_string
from django.utils.translation import gettext as _
from faker import Faker
from tqdm import tqdm

from anju.core import audit
from anju.core.context import use_context
from anju.core.errors import ValidationFailed
from anju.core.models import AuditEvent

from .choices import BranchKind, RoleCode, UserStatus
from .models import Branch, Company, Role, Team, User
from .services import branches, teams, users

DEMO_SEED = 2026
COMPANY_NAME = "安居地产集团有限公司"
EMAIL_DOMAIN = "anju.example"
SEED_ACTOR_NAME = "seed_demo"


class SeedError(Exception):
    """The demo cannot be seeded into this database; the message says why."""


class DemoDataExists(SeedError):
    """The database already holds organisation data; the demo is only seeded into an empty one."""


@dataclass
class SeedContext:
    """What the steps share: the objects made so far, the Faker, the scale and the progress sink."""

    faker: Faker
    scale: int
    password: str
    progress_file: IO[str] | None = None
    actor: User | None = None
    company: Company | None = None
    branches: dict[str, Branch] = field(default_factory=dict)
    teams: dict[str, Team] = field(default_factory=dict)
    users: dict[str, User] = field(default_factory=dict)
    summary: dict[str, int] = field(default_factory=dict)
    _employee_seq: int = 0
    _phones: set[str] = field(default_factory=set)

    def progress(self, iterable: Iterable, *, desc: str, total: int | None = None, unit: str = "it") -> Iterator:
        """``iterable`` with a tqdm bar on the progress file (silent when there is none)."""
        return iter(
            tqdm(
                iterable,
                desc=desc,
                total=total,
                unit=unit,
                file=self.progress_file,
                disable=self.progress_file is None,
                leave=True,
            )
        )

    def next_employee_no(self) -> str:
        self._employee_seq += 1
        return f"AJ{self._employee_seq:04d}"

    def unique_phone(self) -> str:
        """A mainland mobile number (1[3-9]…) no other seeded user has."""
        while True:
            phone = self.faker.phone_number()
            if len(phone) == 11 and phone.isdigit() and phone[1] in "3456789" and phone not in self._phones:
                self._phones.add(phone)
                return phone

    def reserve_phone(self, phone: str) -> str:
        self._phones.add(phone)
        return phone

    def add_user(
        self,
        *,
        username: str,
        display_name: str,
        roles: list[str],
        branch: Branch | None,
        team: Team | None = None,
        position: str = "",
        phone: str = "",
        hire_date: dt.date | None = None,
        employee_no: str | None = None,
    ) -> User:
        """Create a user through ``user_create`` with the demo password and remember it by username."""
        user = users.user_create(
            actor=self.actor,
            username=username,
            display_name=display_name,
            password=self.password,
            branch=branch,
            team=team,
            roles=list(Role.objects.filter(code__in=roles)),
            employee_no=employee_no or self.next_employee_no(),
            phone=phone or self.unique_phone(),
            email=f"{username}@{EMAIL_DOMAIN}",
            position=position,
            hire_date=hire_date,
        )
        self.users[username] = user
        return user


SeedStep = Callable[[SeedContext], None]


# --- the fixed demo logins --------------------------------------------------------------------


@dataclass(frozen=True)
class DemoLogin:
    username: str
    display_name: str
    role: RoleCode
    branch: str  # key of ctx.branches
    team: str | None  # key of ctx.teams
    position: str
    phone: str
    hire_date: dt.date


# admin first: it is bootstrapped before anything else exists and then acts for every service call.
DEMO_LOGINS = [
    DemoLogin(
        "admin", "陈静", RoleCode.ADMINISTRATOR, "region", None, "系统管理员", "13957100001", dt.date(2018, 3, 1)
    ),
    DemoLogin("auditor", "褚红", RoleCode.AUDITOR, "region", None, "内审专员", "13957100002", dt.date(2019, 7, 15)),
    DemoLogin("qa", "冯军", RoleCode.QA, "region", None, "质检主管", "13957100003", dt.date(2019, 4, 8)),
    DemoLogin("manager", "孙丽", RoleCode.BRANCH_MANAGER, "a", None, "案场经理", "13957100004", dt.date(2018, 9, 3)),
    DemoLogin("lead", "王强", RoleCode.TEAM_LEAD, "a", "a1", "销售主管", "13957100005", dt.date(2020, 2, 17)),
    DemoLogin("agent", "李明", RoleCode.SALES_AGENT, "a", "a1", "置业顾问", "13957100006", dt.date(2022, 6, 6)),
    DemoLogin("agent2", "赵婷", RoleCode.SALES_AGENT, "a", "a2", "置业顾问", "13957100007", dt.date(2023, 3, 20)),
    DemoLogin("cs", "周敏", RoleCode.CUSTOMER_SERVICE, "a", None, "客服专员", "13957100008", dt.date(2021, 11, 1)),
    DemoLogin("legal", "吴磊", RoleCode.LEGAL, "a", None, "法务专员", "13957100009", dt.date(2020, 8, 24)),
    DemoLogin("finance", "郑芳", RoleCode.FINANCE, "a", None, "财务专员", "13957100010", dt.date(2021, 5, 10)),
    DemoLogin("agent3", "钱伟", RoleCode.SALES_AGENT, "b", "b1", "置业顾问", "13957100011", dt.date(2023, 9, 4)),
]

BRANCHES = [
    # key, parent key, name, code, kind, address
    ("region", None, "华东区域", "R-EAST", BranchKind.REGION, "浙江省杭州市上城区解放东路 29 号迪凯银座 18 层"),
    ("a", "region", "滨江壹号案场", "A-BINJIANG", BranchKind.SALES_OFFICE, "浙江省杭州市滨江区江南大道 1 号"),
    ("b", "region", "西湖门店", "B-XIHU", BranchKind.STORE, "浙江省杭州市西湖区文三路 259 号"),
]
TEAMS = [("a1", "a", "滨江一组"), ("a2", "a", "滨江二组"), ("b1", "b", "西湖一组"), ("b2", "b", "西湖二组")]
AGENTS_PER_TEAM = 3  # extra agents per team at scale 1
AGENT_POSITIONS = ["置业顾问", "置业顾问", "高级置业顾问", "资深置业顾问"]


def _demo_two_factor_off(ctx: SeedContext) -> None:
    """A fresh installation asks administrators and auditors for a second factor; the demo does
    not, so every demo login works with the printed password. Turned back on per role at
    组织 → 角色 (the command's output says so)."""
    roles = list(Role.objects.filter(requires_two_factor=True).values_list("code", flat=True))
    if roles:
        Role.objects.filter(code__in=roles).update(requires_two_factor=False)
        audit.record(
            actor=ctx.actor,
            action="org.role.two_factor_demo_off",
            after={"roles": roles},
            reason="demo company",
        )


def _bootstrap_admin(ctx: SeedContext) -> User:
    """The first administrator, made directly: no one exists yet who could call ``user_create``."""
    login = DEMO_LOGINS[0]
    admin = User(username=login.username, display_name=login.display_name, email=f"admin@{EMAIL_DOMAIN}")
    try:
        validate_password(ctx.password, admin)
    except ValidationError as exc:
        raise ValidationFailed("user.weak_password", exc.messages[0], {"password": exc.messages}) from None
    admin = User.objects.create_user(
        username=login.username,
        email=f"admin@{EMAIL_DOMAIN}",
        password=ctx.password,
        display_name=login.display_name,
        employee_no=ctx.next_employee_no(),
        phone=ctx.reserve_phone(login.phone),
        phone_index=users.phone_index(login.phone),
        position=login.position,
        hire_date=login.hire_date,
    )
    admin.roles.set([Role.objects.get(code=RoleCode.ADMINISTRATOR)])
    audit.record(
        actor=None,
        actor_name=SEED_ACTOR_NAME,
        action="org.user.created",
        target=admin,
        after=audit.model_snapshot(admin, [*users.USER_FIELDS, "roles"]),
    )
    ctx.actor = ctx.users[admin.username] = admin
    return admin


# --- steps ------------------------------------------------------------------------------------


def seed_org(ctx: SeedContext) -> None:
    """The company, its region with a sales office and a store, and two teams in each."""
    # There is no company service yet (one company per installation); write it the service way.
    company = Company(name=COMPANY_NAME, short_name="安居地产", credit_code="91330108MA2H0AJ8XQ")
    company.full_clean()
    company.save()
    audit.record(
        actor=ctx.actor,
        action="org.company.created",
        target=company,
        after=audit.model_snapshot(company, ["name", "short_name", "credit_code"]),
    )
    ctx.company = company
    for key, parent, name, code, kind, address in BRANCHES:
        ctx.branches[key] = branches.branch_create(
            actor=ctx.actor,
            company=company,
            parent=ctx.branches.get(parent) if parent else None,
            name=name,
            code=code,
            kind=kind,
            address=address,
        )
    for key, branch, name in TEAMS:
        ctx.teams[key] = teams.team_create(actor=ctx.actor, branch=ctx.branches[branch], name=name)
    # The administrator existed before the region did; place them there now.
    users.user_update(actor=ctx.actor, user=ctx.actor, branch=ctx.branches["region"])
    ctx.actor.refresh_from_db()
    ctx.summary[_("Branches")] = len(ctx.branches)
    ctx.summary[_("Teams")] = len(ctx.teams)


def seed_demo_logins(ctx: SeedContext) -> None:
    """The fixed demo users, one per role, with fixed names; ``lead`` leads ``agent``'s team."""
    for login in DEMO_LOGINS[1:]:
        ctx.add_user(
            username=login.username,
            display_name=login.display_name,
            roles=[login.role],
            branch=ctx.branches[login.branch],
            team=ctx.teams[login.team] if login.team else None,
            position=login.position,
            phone=ctx.reserve_phone(login.phone),
            hire_date=login.hire_date,
        )
    ctx.teams["a1"] = teams.team_update(actor=ctx.actor, team=ctx.teams["a1"], lead=ctx.users["lead"])


def _hire_date(ctx: SeedContext) -> dt.date:
    today = timezone.localdate()
    return ctx.faker.date_between_dates(
        date_start=today - dt.timedelta(days=6 * 365), date_end=today - dt.timedelta(days=30)
    )


def seed_staff(ctx: SeedContext) -> None:
    """Extra staff with Faker names: team leads, a store manager and CS rep, agents × scale; one suspended."""
    plan: list[dict[str, Any]] = []
    for key in ("a2", "b1", "b2"):
        plan.append({"roles": [RoleCode.TEAM_LEAD], "team": key, "position": "销售主管", "lead_of": key})
    plan.append({"roles": [RoleCode.BRANCH_MANAGER], "branch": "b", "position": "门店经理"})
    plan.append({"roles": [RoleCode.CUSTOMER_SERVICE], "branch": "b", "position": "客服专员"})
    for _round in range(AGENTS_PER_TEAM * ctx.scale):
        for key in ctx.teams:
            plan.append({"roles": [RoleCode.SALES_AGENT], "team": key, "position": None})

    suspended_team_agents: list[User] = []
    for spec in ctx.progress(plan, desc=_("Staff"), unit=_("people")):
        team = ctx.teams[spec["team"]] if spec.get("team") else None
        branch = team.branch if team else ctx.branches[spec["branch"]]
        employee_no = ctx.next_employee_no()
        user = ctx.add_user(
            username=employee_no.lower(),
            employee_no=employee_no,
            display_name=ctx.faker.name(),
            roles=spec["roles"],
            branch=branch,
            team=team,
            position=spec["position"] or ctx.faker.random_element(AGENT_POSITIONS),
            hire_date=_hire_date(ctx),
        )
        if spec.get("lead_of"):
            ctx.teams[spec["lead_of"]] = teams.team_update(actor=ctx.actor, team=team, lead=user)
        if spec.get("team") == "a2" and RoleCode.SALES_AGENT in spec["roles"]:
            suspended_team_agents.append(user)

    # One suspended account, so the user list shows what suspension looks like.
    ctx.users[suspended_team_agents[-1].username] = users.user_set_status(
        actor=ctx.actor,
        user=suspended_team_agents[-1],
        status=UserStatus.SUSPENDED,
        reason="长期休假，暂停账号",
    )
    ctx.summary[_("Users (active)")] = User.objects.filter(status=UserStatus.ACTIVE).count()
    ctx.summary[_("Users (suspended)")] = User.objects.filter(status=UserStatus.SUSPENDED).count()


# Run in order after the administrator is bootstrapped. Other apps add dotted paths here.
SEED_STEPS: list[SeedStep | str] = [
    seed_org,
    seed_demo_logins,
    seed_staff,
    "anju.customers.demo.seed_customers",
    "anju.listings.demo.seed_listings",
]


# --- entry points -----------------------------------------------------------------------------


def database_has_data() -> bool:
    """True when a company or any user exists: the demo never mixes into real data."""
    return Company.objects.exists() or User.objects.exists()


def seed(
    *,
    scale: int = 1,
    password: str | None = None,
    progress_file: IO[str] | None = None,
    steps: list[SeedStep | str] | None = None,
) -> SeedContext:
    """Seed the demo company in one transaction; raise :class:`DemoDataExists` if data is there."""
    if scale < 1:
        raise ValueError("scale must be at least 1")
    faker = Faker("zh_CN")
    faker.seed_instance(DEMO_SEED)
    ctx = SeedContext(
        faker=faker, scale=scale, password=password or settings.ANJU_DEMO_PASSWORD, progress_file=progress_file
    )
    with use_context(source="cli"), transaction.atomic():
        if database_has_data():
            raise DemoDataExists(_("The database already holds data; the demo is only seeded into an empty one."))
        missing = set(RoleCode.values) - set(Role.objects.values_list("code", flat=True))
        if missing:
            raise SeedError(
                _("The built-in roles are missing (%(codes)s); run “manage.py migrate” first.")
                % {"codes": ", ".join(sorted(missing))}
            )
        _bootstrap_admin(ctx)
        _demo_two_factor_off(ctx)
        for step in SEED_STEPS if steps is None else steps:
            (import_string(step) if isinstance(step, str) else step)(ctx)
        ctx.summary[_("Audit events")] = AuditEvent.objects.count()
    return ctx


def demo_logins(ctx: SeedContext) -> list[dict[str, str]]:
    """Rows for the logins table the command prints: username, name, role, branch, team."""
    rows = []
    for login in DEMO_LOGINS:
        user = ctx.users[login.username]
        rows.append(
            {
                "username": user.username,
                "name": user.display_name,
                "role": str(login.role.label),
                "branch": str(ctx.branches[login.branch]),
                "team": str(ctx.teams[login.team]) if login.team else "",
            }
        )
    return rows
