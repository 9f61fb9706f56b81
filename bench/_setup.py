"""Shared plumbing for the benchmarks in bench/ (not part of `make test`).

* ``configure()``       — environment + ``django.setup()`` against a dedicated database
* ``prepare_database()`` — create (or drop and recreate) that database
* ``build_org()``        — the test personas plus ~50 branches and ~2,000 staff, in bulk
* ``measure()``, ``explain()`` — timings (p50/p95/max) and query plans

Only ``configure()`` may run before Django is set up; everything else imports Django lazily.
"""

from __future__ import annotations

import os
import random
import re
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]

# Chinese names for fake staff and customers: common surnames weighted roughly by frequency.
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英华玉萍红娥玲芬飞鑫波斌宇浩凯健俊帆帅旭宁龙林欣雪梅琳晨辰阳佳怡子涵雨轩博文思远嘉诚"


def fake_name(rng: random.Random) -> str:
    # Zipf-like surname choice: 王/李/张 are far more common than 覃/向/汤.
    surname = SURNAMES[min(int(rng.paretovariate(1.1)) - 1, len(SURNAMES) - 1)]
    given = rng.choice(GIVEN) + (rng.choice(GIVEN) if rng.random() < 0.7 else "")
    return surname + given


# --- environment ---------------------------------------------------------------------------------


def is_postgres(url: str) -> bool:
    return urlsplit(url).scheme in {"postgres", "postgresql", "pgsql", "postgis"}


def configure(database_url: str, var_dir: str | None) -> tuple[Path, bool]:
    """Point Django at ``database_url`` with keys in ``var_dir`` (a fresh temp dir when None).

    Returns the var dir and whether it is temporary (the caller removes it at the end).
    """
    temporary = var_dir is None
    var_path = Path(tempfile.mkdtemp(prefix="anju-bench-")) if temporary else Path(var_dir).resolve()
    var_path.mkdir(parents=True, exist_ok=True)
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings.base"
    os.environ["DATABASE_URL"] = database_url
    os.environ["ANJU_VAR_DIR"] = str(var_path)
    # Keys come from files generated in var_dir, never from the caller's environment.
    for name in ("SECRET_KEY", "ANJU_FIELD_KEYS", "ANJU_BLIND_INDEX_KEY"):
        os.environ.pop(name, None)
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    os.environ["DEBUG"] = "0"
    import django

    django.setup()
    return var_path, temporary


def remove_var_dir(var_path: Path) -> None:
    shutil.rmtree(var_path, ignore_errors=True)


# --- the database --------------------------------------------------------------------------------


def prepare_database(database_url: str, *, fresh: bool) -> None:
    """Create the bench database if missing; with ``fresh`` drop it first. Call before django.setup()."""
    if is_postgres(database_url):
        _prepare_postgres(database_url, fresh=fresh)
    elif urlsplit(database_url).scheme == "sqlite":
        path = Path(urlsplit(database_url).path[1:] or "")
        if not path.name or path.name == ":memory:":
            sys.exit("Use a file for SQLite, e.g. sqlite:////tmp/anju_bench.sqlite3")
        path.parent.mkdir(parents=True, exist_ok=True)
        if fresh:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
    else:
        sys.exit(f"Unsupported database URL: {database_url}")


def _prepare_postgres(database_url: str, *, fresh: bool) -> None:
    import dj_database_url
    import psycopg
    from psycopg import sql

    cfg = dj_database_url.parse(database_url)
    name = cfg["NAME"]
    # A benchmark drops its database: refuse anything that does not look like a scratch one.
    if "bench" not in name:
        sys.exit(f"Refusing to use database {name!r}: the benchmark database's name must contain 'bench'.")
    params = {
        "dbname": "postgres",
        "host": cfg.get("HOST") or None,
        "port": cfg.get("PORT") or None,
        "user": cfg.get("USER") or None,
        "password": cfg.get("PASSWORD") or None,
        "autocommit": True,
    }
    with psycopg.connect(**{k: v for k, v in params.items() if v is not None}) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone() is not None
        if exists and fresh:
            conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))
            exists = False
        if not exists:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def migrate() -> None:
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)


def analyze() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE" if connection.vendor == "postgresql" else "ANALYZE")


# --- the organisation ----------------------------------------------------------------------------


@dataclass
class Org:
    personas: object  # anju.testing.Personas
    branches: list = field(default_factory=list)  # sales offices / stores (not regions)
    teams_by_branch: dict = field(default_factory=dict)  # branch id -> [team]
    owners_by_branch: dict = field(default_factory=dict)  # branch id -> [(user, team)] who own customers
    front_desk_by_branch: dict = field(default_factory=dict)  # branch id -> user who registers pool walk-ins


def build_org(*, branches: int = 50, staff: int = 2000, seed: int = 2026) -> Org:
    """make_personas() plus ``branches`` sales offices/stores in three regions and ``staff`` users in all.

    Per branch: 1 manager, 4 teams (each with a lead), 2 customer-service reps, legal, finance,
    and sales agents for the rest — branch sizes vary (some offices are three times others).
    """
    from django.contrib.auth.hashers import make_password
    from django.test.utils import override_settings

    from anju.core.crypto import blind_index
    from anju.org.choices import BranchKind
    from anju.org.models import Branch, Role, Team, User
    from anju.testing import make_personas

    rng = random.Random(seed)
    # Persona passwords: a fast hasher, the default one costs ~0.5 s per user.
    with override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"]):
        p = make_personas()
    roles = {role.code: role for role in Role.objects.all()}

    # Regions: the personas' 华东 plus two more.
    regions = [p.region]
    for code, name in (("R-SOUTH", "华南区域"), ("R-NORTH", "华北区域")):
        region = Branch.objects.create(
            company=p.company, name=name, code=code, kind=BranchKind.REGION, path="/pending/"
        )
        region.path = f"/{region.pk}/"
        region.save(update_fields=["path"])
        regions.append(region)

    extra = [
        Branch(
            company=p.company,
            parent=regions[i % len(regions)],
            name=f"{'案场' if i % 3 else '门店'}{i:03d}",
            code=f"BR-{i:03d}",
            kind=BranchKind.SALES_OFFICE if i % 3 else BranchKind.STORE,
            path="/pending/",
        )
        for i in range(max(branches - 2, 0))
    ]
    Branch.objects.bulk_create(extra)
    for branch in extra:
        branch.path = f"{branch.parent.path}{branch.pk}/"
    Branch.objects.bulk_update(extra, ["path"])
    all_branches = [p.branch_a, p.branch_b, *extra]

    # Four teams per branch (the personas' branches already have some).
    existing = {p.branch_a.pk: [p.team_a1, p.team_a2], p.branch_b.pk: [p.team_b1]}
    new_teams = [
        Team(branch=branch, name=f"{branch.name}{n}组")
        for branch in all_branches
        for n in range(len(existing.get(branch.pk, [])) + 1, 5)
    ]
    Team.objects.bulk_create(new_teams)
    teams_by_branch = {b.pk: list(existing.get(b.pk, [])) for b in all_branches}
    for team in new_teams:
        teams_by_branch[team.branch_id].append(team)

    # Staff: branch weights make some offices three times bigger than others; branch A is big.
    weights = {b.pk: rng.uniform(0.6, 1.8) for b in all_branches}
    weights[p.branch_a.pk] = 2.2
    fixed_per_branch = 9  # manager, 4 leads, 2 cs, legal, finance
    bench_staff = staff - len(p.all_users())  # users to create besides the personas
    agents_total = max(bench_staff - fixed_per_branch * len(all_branches), 3 * len(all_branches))
    total_weight = sum(weights.values())
    agents_per_branch = {pk: max(3, round(agents_total * w / total_weight)) for pk, w in weights.items()}

    password = make_password(None)  # unusable: bench staff never log in
    users: list[User] = []
    user_roles: list[tuple[User, str]] = []
    serial = 0

    def add(branch, team, role_code, position):
        nonlocal serial
        serial += 1
        phone = f"177{serial:08d}"
        user = User(
            username=f"bench{serial:05d}",
            display_name=fake_name(rng),
            employee_no=f"S{serial:05d}",
            phone=phone,
            phone_index=blind_index(phone, purpose="user.phone"),
            branch=branch,
            team=team,
            position=position,
            password=password,
        )
        users.append(user)
        user_roles.append((user, role_code))
        return user

    leads: dict[int, User] = {}
    # Branch A last: it takes whatever agents are left, so the staff total is exact.
    for branch in [*all_branches[1:], p.branch_a]:
        teams = teams_by_branch[branch.pk]
        if branch.pk == p.branch_a.pk:
            # besides its agents, branch A gets one cs rep and a lead for every team but A1
            agents_per_branch[branch.pk] = max(3, bench_staff - len(users) - 1 - (len(teams) - 1))
        if branch.pk != p.branch_a.pk:  # branch A's manager, cs, legal, finance are personas
            add(branch, None, "branch_manager", "案场经理")
            add(branch, None, "customer_service", "客服专员")
            add(branch, None, "legal", "法务专员")
            add(branch, None, "finance", "财务专员")
        add(branch, None, "customer_service", "客服专员")
        for team in teams:
            if team.pk == p.team_a1.pk:
                continue  # lead persona
            leads[team.pk] = add(branch, team, "team_lead", "销售主管")
        for n in range(agents_per_branch[branch.pk]):
            add(branch, teams[n % len(teams)], "sales_agent", "置业顾问")
    User.objects.bulk_create(users, batch_size=1000)
    Through = User.roles.through
    Through.objects.bulk_create(
        [Through(user_id=user.pk, role_id=roles[code].pk) for user, code in user_roles], batch_size=5000
    )
    led = []
    for team in (t for teams in teams_by_branch.values() for t in teams):
        if team.lead_id is None and team.pk in leads:
            team.lead = leads[team.pk]
            led.append(team)
    Team.objects.bulk_update(led, ["lead"])

    # Who owns customers in each branch: agents and team leads (personas included).
    owners_by_branch: dict[int, list] = {b.pk: [] for b in all_branches}
    front_desk: dict[int, User] = {}
    for user, code in [*user_roles, *[(u, None) for u in p.all_users()]]:
        if user.branch_id not in owners_by_branch:
            continue
        codes = {code} if code else user.role_codes()
        if codes & {"sales_agent", "team_lead"}:
            owners_by_branch[user.branch_id].append(user)
        if codes & {"customer_service"}:
            front_desk.setdefault(user.branch_id, user)
    return Org(
        personas=p,
        branches=all_branches,
        teams_by_branch=teams_by_branch,
        owners_by_branch=owners_by_branch,
        front_desk_by_branch=front_desk,
    )


# --- measuring -----------------------------------------------------------------------------------


@dataclass
class Timing:
    samples_ms: list[float]

    @property
    def p50(self) -> float:
        return statistics.median(self.samples_ms)

    @property
    def p95(self) -> float:
        ordered = sorted(self.samples_ms)
        return ordered[max(0, -(-95 * len(ordered) // 100) - 1)]  # nearest rank

    @property
    def max(self) -> float:
        return max(self.samples_ms)


def measure(fn: Callable[[int], object], *, repeat: int, warmup: int = 5) -> Timing:
    """Call ``fn(i)`` ``warmup`` times untimed, then ``repeat`` times under ``time.perf_counter``."""
    for i in range(warmup):
        fn(i)
    samples = []
    for i in range(repeat):
        start = time.perf_counter()
        fn(i)
        samples.append((time.perf_counter() - start) * 1000)
    return Timing(samples)


def captured(fn: Callable[[], object]) -> list[str]:
    """The SQL statements ``fn`` runs."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as ctx:
        fn()
    return [q["sql"] for q in ctx.captured_queries]


_FULL_SCAN = {
    "postgresql": re.compile(r"Seq Scan on customers_customer\b"),
    "sqlite": re.compile(r"\bSCAN (TABLE )?customers_customer\b"),
}


def explain(sql_text: str) -> tuple[str, bool]:
    """The plan of one statement (executed: EXPLAIN ANALYZE on PostgreSQL) and whether it full-scans customers."""
    from django.db import connection

    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql_text)
            plan = "\n".join(row[0] for row in cursor.fetchall())
        else:
            cursor.execute("EXPLAIN QUERY PLAN " + sql_text)
            plan = "\n".join(str(row[-1]) for row in cursor.fetchall())
    pattern = _FULL_SCAN.get(connection.vendor)
    return plan, bool(pattern and pattern.search(plan))
