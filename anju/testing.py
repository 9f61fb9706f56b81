"""Test personas and factories (STYLE.md): one small company every test can reason about.

    Company 安居地产
    └── 华东区域 (region, code R-EAST)
        ├── 滨江案场 (sales office A)      teams: A1 (agent, lead), A2 (agent2)
        │                                  also: manager, cs, legal, finance
        └── 西湖门店 (store B)             team B1 (agent3)
    qa, admin, auditor sit in the region.

Personas are created straight through the ORM (tests of services create through services).
"""

from __future__ import annotations

from dataclasses import dataclass

import factory
from django.contrib.auth.models import AnonymousUser

from anju.core.crypto import blind_index
from anju.core.masking import normalise_phone
from anju.org.choices import BranchKind
from anju.org.models import Branch, Company, Role, Team, User

PASSWORD = "persona-pass-2026"  # noqa: S105 (test personas only)


def save_branch(branch: Branch) -> Branch:
    branch.path = "/pending/"
    branch.save()
    parent_path = branch.parent.path if branch.parent_id else "/"
    branch.path = f"{parent_path}{branch.pk}/"
    branch.save(update_fields=["path"])
    return branch


class CompanyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Company
        django_get_or_create = ("name",)

    name = "安居地产集团有限公司"
    short_name = "安居地产"


class BranchFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Branch

    company = factory.SubFactory(CompanyFactory)
    name = factory.Sequence(lambda n: f"分支{n}")
    code = factory.Sequence(lambda n: f"B{n:03d}")
    kind = BranchKind.SALES_OFFICE

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        return save_branch(model_class(*args, **kwargs))


class TeamFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Team

    branch = factory.SubFactory(BranchFactory)
    name = factory.Sequence(lambda n: f"第{n}组")


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    display_name = factory.Sequence(lambda n: f"员工{n}")
    employee_no = factory.Sequence(lambda n: f"E{n:05d}")
    phone = factory.Sequence(lambda n: f"139{n:08d}")
    phone_index = factory.LazyAttribute(lambda o: blind_index(normalise_phone(o.phone), purpose="user.phone"))
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @factory.post_generation
    def roles(self, create, extracted, **kwargs):
        if extracted:
            self.roles.set(Role.objects.filter(code__in=extracted))
        self.save()


@dataclass
class Personas:
    company: Company
    region: Branch
    branch_a: Branch
    branch_b: Branch
    team_a1: Team
    team_a2: Team
    team_b1: Team
    agent: User
    agent2: User
    agent3: User
    lead: User
    manager: User
    cs: User
    legal: User
    finance: User
    qa: User
    admin: User
    auditor: User
    anonymous: AnonymousUser

    def all_users(self) -> list[User]:
        return [
            self.agent,
            self.agent2,
            self.agent3,
            self.lead,
            self.manager,
            self.cs,
            self.legal,
            self.finance,
            self.qa,
            self.admin,
            self.auditor,
        ]


def ensure_roles() -> None:
    """Transactional tests flush the tables, taking the migration-seeded roles with them."""
    if not Role.objects.exists():
        from importlib import import_module

        from django.apps import apps

        import_module("anju.org.migrations.0002_seed_roles").seed_roles(apps, None)
        import_module("anju.customers.migrations.0002_grant_role_permissions").grant(apps, None)
        import_module("anju.customers.migrations.0007_manage_rotation_permission").grant(apps, None)
        import_module("anju.listings.migrations.0002_grant_role_permissions").grant(apps, None)
        import_module("anju.org.migrations.0003_role_requires_two_factor").require_two_factor(apps, None)


def make_personas() -> Personas:
    ensure_roles()
    # Personas sign in with their password alone, so every test can use them; the tests of
    # two-factor sign-in (tests/org/test_two_factor.py) switch the requirement back on.
    Role.objects.update(requires_two_factor=False)
    company = CompanyFactory()
    region = BranchFactory(company=company, name="华东区域", code="R-EAST", kind=BranchKind.REGION)
    branch_a = BranchFactory(company=company, parent=region, name="滨江案场", code="A-BINJIANG")
    branch_b = BranchFactory(company=company, parent=region, name="西湖门店", code="B-XIHU", kind=BranchKind.STORE)
    team_a1 = TeamFactory(branch=branch_a, name="滨江一组")
    team_a2 = TeamFactory(branch=branch_a, name="滨江二组")
    team_b1 = TeamFactory(branch=branch_b, name="西湖一组")

    def person(username, name, roles, branch, team=None, position=""):
        return UserFactory(
            username=username, display_name=name, roles=roles, branch=branch, team=team, position=position
        )

    lead = person("lead", "王主管", ["team_lead"], branch_a, team_a1, "销售主管")
    team_a1.lead = lead
    team_a1.save()
    return Personas(
        company=company,
        region=region,
        branch_a=branch_a,
        branch_b=branch_b,
        team_a1=team_a1,
        team_a2=team_a2,
        team_b1=team_b1,
        agent=person("agent", "李置业", ["sales_agent"], branch_a, team_a1, "置业顾问"),
        agent2=person("agent2", "赵置业", ["sales_agent"], branch_a, team_a2, "置业顾问"),
        agent3=person("agent3", "钱置业", ["sales_agent"], branch_b, team_b1, "置业顾问"),
        lead=lead,
        manager=person("manager", "孙经理", ["branch_manager"], branch_a, None, "案场经理"),
        cs=person("cs", "周客服", ["customer_service"], branch_a, None, "客服专员"),
        legal=person("legal", "吴法务", ["legal"], branch_a, None, "法务专员"),
        finance=person("finance", "郑财务", ["finance"], branch_a, None, "财务专员"),
        qa=person("qa", "冯质检", ["qa"], region, None, "质检主管"),
        admin=person("admin", "陈管理员", ["administrator"], region, None, "系统管理员"),
        auditor=person("auditor", "褚审计", ["auditor"], region, None, "内审专员"),
        anonymous=AnonymousUser(),
    )
