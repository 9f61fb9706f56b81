"""Customer-list benchmark against the performance budget (DESIGN.md "Performance budget").

    python bench/customers_bench.py --fresh --customers 200000 \\
        --database-url postgres://postgres@127.0.0.1:5432/anju_bench
    python bench/customers_bench.py --fresh --customers 20000 --database-url sqlite:////tmp/anju_bench.sqlite3

Builds a dedicated database (personas + ~50 branches + ~2,000 staff + N customers, in bulk),
runs ANALYZE, then times the customer list as an agent / team lead / branch manager / admin
sees it, the exact phone lookup, last-four and name search. Prints p50/p95/max, the queries
per page, the EXPLAIN (ANALYZE) of the agent and manager list queries (flagging any Seq Scan
on customers_customer), and exits 1 when the budget is missed. See bench/README.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import random
import re
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _setup  # bench/ is not a package: _setup sits next to this file

PAGE_SIZE = 50  # anju.org.views._common.PAGE_SIZE
BATCH = 5000
DEFAULT_URL = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/anju_bench")

# Budgets in ms (p95 of the whole Python call: ORM + database, the "server time" of a page).
BUDGETS = {"agent_list": 50.0, "agent_list_any": 50.0, "phone_exact": 10.0}
# Scenarios whose full EXPLAIN is printed (the brief: the agent and manager list queries).
EXPLAINED = ("agent_list", "manager_list")

STAGES = {  # a realistic funnel
    "lead": 38,
    "visited": 20,
    "intention": 12,
    "reserved": 3,
    "signed": 5,
    "handed_over": 3,
    "after_sales": 3,
    "lost": 16,
}
SOURCES = {"walk_in": 30, "phone": 15, "online": 25, "referral": 12, "broker": 8, "event": 5, "outbound": 3, "other": 2}
TIERS = {"A": 8, "B": 22, "C": 50, "D": 20}
MOBILE_PREFIXES = [
    *(f"13{d}" for d in range(10)),
    *(f"15{d}" for d in (0, 1, 2, 3, 5, 6, 7, 8, 9)),
    *(f"18{d}" for d in range(10)),
    "166",
    "173",
    "176",
    "177",
    "178",
    "191",
    "198",
    "199",
]
TAGS = ["学区", "改善", "首套", "投资", "全款", "公积金", "急购", "看过三次", "老带新", "企业客户", "外地", "二胎家庭"]
LOST_REASONS = ["预算不足", "选择竞品", "暂缓购房", "联系不上", "区域不合适"]


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=200_000, help="customers to insert (default 200000)")
    parser.add_argument("--database-url", default=DEFAULT_URL, help="postgres://…/anju_bench or sqlite:///path")
    parser.add_argument("--fresh", action="store_true", help="drop and recreate the database first")
    parser.add_argument("--repeat", type=int, default=200, help="timed repetitions per scenario (default 200)")
    parser.add_argument("--branches", type=int, default=50)
    parser.add_argument("--staff", type=int, default=2000)
    parser.add_argument("--pool-share", type=float, default=0.08, help="share of customers in the public pool")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument(
        "--var-dir",
        help="keep the generated keys here (default: a temp dir removed afterwards); "
        "pass the same dir to re-measure an existing database without --fresh",
    )
    parser.add_argument("--explain-all", action="store_true", help="print the plan of every scenario's queries")
    parser.add_argument("--strict", action="store_true", help="also fail on a Seq Scan of customers_customer")
    return parser.parse_args(argv)


# --- seeding -------------------------------------------------------------------------------------


@contextmanager
def raw_timestamps(model):
    """Let bulk_create keep our created_at/updated_at instead of auto_now's "now"."""
    fields = [
        f for f in model._meta.concrete_fields if getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False)
    ]
    saved = [(f, f.auto_now, f.auto_now_add) for f in fields]
    for f in fields:
        f.auto_now = f.auto_now_add = False
    try:
        yield
    finally:
        for f, auto_now, auto_now_add in saved:
            f.auto_now, f.auto_now_add = auto_now, auto_now_add


def _weighted(options: dict[str, int]):
    keys = list(options)
    cum, total = [], 0
    for key in keys:
        total += options[key]
        cum.append(total)
    return keys, cum


def insert_name_grams(rows: list[tuple[int, str]]) -> None:
    """CustomerNameGram rows (~5 per customer): COPY on PostgreSQL, executemany on SQLite.

    The rows are what the services write (``grams_of(customer.search_name)``, see
    anju.customers.search); model instances through ``bulk_create`` would cost ~50 µs each.
    """
    from django.db import connection

    from anju.customers.models import CustomerNameGram

    table = CustomerNameGram._meta.db_table
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            with cursor.cursor.copy(f"COPY {table} (customer_id, gram) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        else:
            cursor.executemany(f"INSERT INTO {table} (customer_id, gram) VALUES (%s, %s)", rows)  # noqa: S608


def seed_customers(org, n: int, *, pool_share: float, seed: int) -> dict:
    """Bulk-insert ``n`` customers spread over owners (log-normal book sizes), teams and branches,
    with their name grams (the index behind name search)."""
    from django.db import transaction
    from django.utils import timezone
    from tqdm import tqdm

    from anju.core.grams import grams_of, normalise
    from anju.customers.models import Customer, Tag
    from anju.customers.rules import phone_index

    rng = random.Random(seed)
    p = org.personas
    owners = [(u, b) for b, users in org.owners_by_branch.items() for u in users]
    owner_weights = [rng.lognormvariate(0, 0.8) for _ in owners]
    # The persona agent carries a heavy book (the 95th percentile): the list budget is for busy agents too.
    heavy = sorted(owner_weights)[int(len(owner_weights) * 0.95)]
    for i, (user, _branch) in enumerate(owners):
        if user.pk == p.agent.pk:
            owner_weights[i] = heavy
    cum_owner, acc = [], 0.0
    for w in owner_weights:
        acc += w
        cum_owner.append(acc)
    branch_weight: dict[int, float] = {}
    for (_user, branch_id), w in zip(owners, owner_weights, strict=True):
        branch_weight[branch_id] = branch_weight.get(branch_id, 0.0) + w
    pool_branches = list(branch_weight)
    pool_cum, acc = [], 0.0
    for b in pool_branches:
        acc += branch_weight[b]
        pool_cum.append(acc)

    stage_keys, stage_cum = _weighted(STAGES)
    source_keys, source_cum = _weighted(SOURCES)
    tier_keys, tier_cum = _weighted(TIERS)
    tags = [Tag.objects.get_or_create(name=name)[0] for name in TAGS]
    TagLink = Customer.tags.through

    now = timezone.now()
    span = dt.timedelta(days=3 * 365).total_seconds()
    phones: set[str] = set()
    inserted = 0
    bar = tqdm(total=n, unit="customer", desc="customers", smoothing=0.1, mininterval=1.0)
    with raw_timestamps(Customer):
        while inserted < n:
            size = min(BATCH, n - inserted)
            in_pool = [rng.random() < pool_share for _ in range(size)]
            owner_idx = rng.choices(range(len(owners)), cum_weights=cum_owner, k=size)
            pool_branch = rng.choices(pool_branches, cum_weights=pool_cum, k=size)
            batch = []
            for i in range(size):
                while True:
                    phone = rng.choice(MOBILE_PREFIXES) + f"{rng.randrange(10**8):08d}"
                    if phone not in phones:
                        phones.add(phone)
                        break
                created = now - dt.timedelta(seconds=span * rng.random() ** 1.4)
                age = (now - created).total_seconds()
                last_contact = created + dt.timedelta(seconds=age * rng.random() ** 0.35)
                updated = last_contact + dt.timedelta(seconds=rng.uniform(0, 600))
                stage = rng.choices(stage_keys, cum_weights=stage_cum)[0]
                low = rng.choice([None, None, 150, 200, 300, 400, 500, 800])
                high = None if low is None or rng.random() < 0.3 else low + rng.choice([50, 100, 200, 300])
                if in_pool[i]:
                    owner, team_id, branch_id = None, None, pool_branch[i]
                    created_by = org.front_desk_by_branch.get(branch_id) or p.cs
                    protected_until, pool_since = None, updated
                    acquired_via = "lapsed"
                else:
                    owner, branch_id = owners[owner_idx[i]]
                    team_id, created_by = owner.team_id, owner
                    protected_until = last_contact + dt.timedelta(days=30) if stage != "lost" else None
                    pool_since = None
                    acquired_via = "claimed" if rng.random() < 0.05 else "registered"
                name = _setup.fake_name(rng)
                batch.append(
                    Customer(
                        name=name,
                        search_name=normalise(name),
                        # Plaintext on purpose: EncryptedTextField.get_prep_value encrypts on the way
                        # in (anju.core.crypto.encrypt); handing it encrypt()'s output would encrypt twice.
                        phone=phone,
                        phone_index=phone_index(phone),
                        phone_last4=phone[-4:],
                        gender=rng.choice(["unknown", "male", "female"]),
                        source=rng.choices(source_keys, cum_weights=source_cum)[0],
                        stage=stage,
                        lost_reason=rng.choice(LOST_REASONS) if stage == "lost" else "",
                        budget_min=low,
                        budget_max=high,
                        value_tier=rng.choices(tier_keys, cum_weights=tier_cum)[0],
                        owner=owner,
                        team_id=team_id,
                        branch_id=branch_id,
                        acquired_via=acquired_via,
                        protected_until=protected_until,
                        in_pool=in_pool[i],
                        pool_since=pool_since,
                        last_contact_at=last_contact,
                        created_by=created_by,
                        created_at=created,
                        updated_at=updated,
                    )
                )
            with transaction.atomic():
                Customer.objects.bulk_create(batch, batch_size=BATCH)
                insert_name_grams([(c.pk, gram) for c in batch for gram in sorted(grams_of(c.search_name))])
                links = [
                    TagLink(customer_id=c.pk, tag_id=tag.pk)
                    for c in batch
                    if rng.random() < 0.2
                    for tag in rng.sample(tags, rng.choice([1, 1, 2]))
                ]
                TagLink.objects.bulk_create(links, batch_size=BATCH)
            inserted += size
            bar.update(size)
    bar.close()
    return {"customers": n}


# --- scenarios -----------------------------------------------------------------------------------


def _fresh_request(user) -> None:
    """Forget per-request caches so each call pays for the role lookup a real request does."""
    for attr in ("_anju_scope", "_anju_role_codes", "_anju_subtree_ids"):
        user.__dict__.pop(attr, None)


def list_page(user, page_size: int = PAGE_SIZE, **filters) -> int:
    """What the list view does: Paginator's count(), the page, and what the row template reads."""
    from anju.customers.selectors import customer_list_for

    _fresh_request(user)
    queryset = customer_list_for(user, **filters)
    total = queryset.count()
    for customer in queryset[:page_size]:
        customer.phone_masked  # noqa: B018  (decrypts, as the template does)
        str(customer.owner or "")
        str(customer.team or "")
        customer.branch  # noqa: B018
        list(customer.tags.all())
    return total


def phone_exact(digits: str):
    """Registration / reception duplicate check: blind index, then one indexed row."""
    from anju.core.masking import normalise_phone
    from anju.customers.models import Customer
    from anju.customers.rules import phone_index

    return (
        Customer.objects.select_related("owner", "branch")
        .filter(phone_index=phone_index(normalise_phone(digits)))
        .first()
    )


@dataclass
class Scenario:
    key: str
    label: str
    call: object  # fn(i) -> rows in scope (or None)
    is_list: bool = True
    page_call: object = None  # fn(page_size) for the N+1 check


@dataclass
class Result:
    scenario: Scenario
    timing: _setup.Timing
    rows: int | None
    queries: int
    queries_by_size: dict
    seq_scan: bool
    plans: list
    db_ms: float | None  # EXPLAIN ANALYZE execution time of the call's customer queries (PostgreSQL)


def samples(personas, repeat: int, seed: int) -> dict:
    """Inputs that rotate over the repetitions: random agents, phones, last fours, names."""
    from django.db.models import Max, Min

    from anju.customers.models import Customer
    from anju.org.models import User

    rng = random.Random(seed + 1)
    n = repeat + 10
    agent_ids = list(User.objects.filter(roles__code="sales_agent").values_list("pk", flat=True))
    agents = list(User.objects.filter(pk__in=rng.sample(agent_ids, min(n, len(agent_ids)))))
    bounds = Customer.objects.aggregate(lo=Min("pk"), hi=Max("pk"))
    ids = rng.sample(range(bounds["lo"], bounds["hi"] + 1), min(n, bounds["hi"] - bounds["lo"] + 1))
    phones = [c.phone for c in Customer.objects.filter(pk__in=ids).only("phone")]
    # One lookup in ten is a number nobody registered (the common case at the reception desk).
    phones = [("16" + f"{rng.randrange(10**9):09d}") if i % 10 == 9 else ph for i, ph in enumerate(phones)]
    manager_branch = personas.manager.branch.path
    in_branch = Customer.objects.filter(branch__path__startswith=manager_branch, in_pool=False)
    manager_names = list(in_branch.order_by("?").values_list("name", flat=True)[:n])
    agent_names = list(Customer.objects.filter(owner=personas.agent).values_list("name", flat=True)[:n])
    any_names = [c.name for c in Customer.objects.filter(pk__in=ids).only("name")]
    last4 = [f"{rng.randrange(10**4):04d}" for _ in range(n)]
    # A surname alone (one character: thousands of matches) and a given name without the
    # surname (an infix of two characters: what a prefix index could not serve).
    surnames = [name[0] for name in manager_names]
    given = [name[1:] for name in any_names if len(name) == 3]
    return {
        "agents": agents,
        "phones": phones,
        "last4": last4,
        "manager_names": manager_names or ["王"],
        "agent_names": agent_names or ["王"],
        "any_names": any_names or ["王"],
        "surnames": surnames or ["王"],
        "given": given or ["子涵"],
    }


def scenarios(p, s) -> list[Scenario]:
    def pick(values, i):
        return values[i % len(values)]

    agent, lead, manager, admin = p.agent, p.lead, p.manager, p.admin
    return [
        Scenario(
            "agent_list",
            "Customer list, agent (own scope, heavy book)",
            lambda i: list_page(agent),
            page_call=lambda size: list_page(agent, size),
        ),
        Scenario(
            "agent_list_any", "Customer list, a random agent each time", lambda i: list_page(pick(s["agents"], i))
        ),
        Scenario(
            "lead_list",
            "Customer list, team lead (team scope)",
            lambda i: list_page(lead),
            page_call=lambda size: list_page(lead, size),
        ),
        Scenario(
            "manager_list",
            "Customer list, branch manager (branch scope)",
            lambda i: list_page(manager),
            page_call=lambda size: list_page(manager, size),
        ),
        Scenario(
            "admin_list",
            "Customer list, admin (all)",
            lambda i: list_page(admin),
            page_call=lambda size: list_page(admin, size),
        ),
        Scenario(
            "phone_exact",
            "Exact phone lookup (blind index, duplicate check)",
            lambda i: phone_exact(pick(s["phones"], i)),
            is_list=False,
        ),
        Scenario(
            "phone_search_manager",
            "List search by full phone, manager",
            lambda i: list_page(manager, search=pick(s["phones"], i)),
        ),
        Scenario(
            "last4_manager",
            "List search by last four, manager",
            lambda i: list_page(manager, search=pick(s["last4"], i)),
        ),
        Scenario(
            "name_agent", "List search by name, agent", lambda i: list_page(agent, search=pick(s["agent_names"], i))
        ),
        Scenario(
            "name_manager",
            "List search by name, manager",
            lambda i: list_page(manager, search=pick(s["manager_names"], i)),
        ),
        Scenario(
            "name_admin", "List search by name, admin", lambda i: list_page(admin, search=pick(s["any_names"], i))
        ),
        Scenario(
            "given_admin",
            "List search by a given name without the surname (2-char infix), admin",
            lambda i: list_page(admin, search=pick(s["given"], i)),
        ),
        Scenario(
            "surname_manager",
            "List search by a surname alone (1 char), manager",
            lambda i: list_page(manager, search=pick(s["surnames"], i)),
        ),
        Scenario(
            "surname_admin",
            "List search by a surname alone (1 char), admin",
            lambda i: list_page(admin, search=pick(s["surnames"], i)),
        ),
    ]


def run_scenario(sc: Scenario, repeat: int) -> Result:
    sql = _setup.captured(lambda: sc.call(0))
    rows = sc.call(0)
    by_size = {}
    if sc.page_call is not None:
        by_size = {size: len(_setup.captured(lambda size=size: sc.page_call(size))) for size in (10, 50, 100)}
    plans, seq, db_ms = [], False, None
    for statement in sql:
        if "customers_customer" not in statement:
            continue
        plan, full_scan = _setup.explain(statement)
        plans.append((statement, plan, full_scan))
        seq = seq or full_scan
        executed = re.search(r"Execution Time: ([\d.]+) ms", plan)
        if executed:
            db_ms = (db_ms or 0.0) + float(executed.group(1))
    timing = _setup.measure(sc.call, repeat=repeat)
    return Result(sc, timing, rows if isinstance(rows, int) else None, len(sql), by_size, seq, plans, db_ms)


# --- report --------------------------------------------------------------------------------------


def report(results: list[Result], args, meta: dict, explain_all: bool) -> list[str]:
    failures = []
    print()
    print(f"## Results — {meta['when']} — {meta['machine']}")
    print(
        f"{meta['vendor']}, {meta['customers']:,} customers, {meta['staff']:,} staff, {meta['branches']} branches; "
        f"{args.repeat} repetitions, times in ms (ORM + database)"
    )
    print()
    print(
        "| scenario | rows (1st call) | queries/page (10/50/100) | p50 | p95 | max | db (EXPLAIN) "
        "| budget p95 | Seq Scan on customers |"
    )
    print("|---|---:|---|---:|---:|---:|---:|---|---|")
    for r in results:
        budget = BUDGETS.get(r.scenario.key)
        verdict = ""
        if budget is not None:
            ok = r.timing.p95 < budget
            verdict = f"< {budget:.0f} {'ok' if ok else '**OVER**'}"
            if not ok:
                failures.append(f"{r.scenario.key}: p95 {r.timing.p95:.1f} ms ≥ {budget:.0f} ms")
        sizes = "/".join(str(v) for v in r.queries_by_size.values())
        queries = f"{r.queries}" + (f" ({sizes})" if sizes else "")
        if r.queries_by_size and len(set(r.queries_by_size.values())) > 1:
            queries += " **N+1**"
            failures.append(f"{r.scenario.key}: query count grows with page size {r.queries_by_size}")
        rows = "" if r.rows is None else f"{r.rows:,}"
        db = "" if r.db_ms is None else f"{r.db_ms:.1f}"
        print(
            f"| {r.scenario.key}: {r.scenario.label} | {rows} | {queries} | {r.timing.p50:.1f} | "
            f"{r.timing.p95:.1f} | {r.timing.max:.1f} | {db} | {verdict} | {'**yes**' if r.seq_scan else 'no'} |"
        )
        if r.seq_scan and args.strict:
            failures.append(f"{r.scenario.key}: Seq Scan on customers_customer")
    for r in results:
        if r.scenario.key not in EXPLAINED and not explain_all:
            continue
        print()
        print(
            f"### EXPLAIN {'(ANALYZE, BUFFERS) ' if meta['vendor'] == 'postgresql' else 'QUERY PLAN '}— {r.scenario.key}"
        )
        for statement, plan, full_scan in r.plans:
            print()
            print(("!! Seq Scan on customers_customer\n" if full_scan else "") + statement)
            print(plan)
    flagged = [r.scenario.key for r in results if r.seq_scan]
    if flagged:
        print()
        print("Seq Scan on customers_customer in: " + ", ".join(flagged))
    return failures


def main(argv=None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    _setup.prepare_database(args.database_url, fresh=args.fresh)
    var_path, temporary = _setup.configure(args.database_url, args.var_dir)
    try:
        return _run(args, started)
    finally:
        if temporary:
            _setup.remove_var_dir(var_path)


def _run(args, started: float) -> int:
    from django.core.exceptions import ImproperlyConfigured
    from django.db import connection

    from anju.customers.models import Customer
    from anju.org.models import Branch, User

    print(f"Migrating {connection.vendor} database {connection.settings_dict['NAME']} …", flush=True)
    _setup.migrate()
    existing = Customer.objects.count()
    if existing:
        if existing != args.customers:
            sys.exit(f"The database holds {existing} customers, not {args.customers}: pass --fresh.")
        try:
            Customer.objects.only("phone").first().phone  # noqa: B018
        except ImproperlyConfigured:
            sys.exit("The stored phones were encrypted with other keys: pass --fresh (or the --var-dir used to seed).")
        print(f"Reusing the {existing:,} customers already seeded.", flush=True)
    else:
        t0 = time.perf_counter()
        org = _setup.build_org(branches=args.branches, staff=args.staff, seed=args.seed)
        print(
            f"Organisation: {User.objects.count():,} staff, {len(org.branches)} branches "
            f"({time.perf_counter() - t0:.1f} s)",
            flush=True,
        )
        t0 = time.perf_counter()
        seed_customers(org, args.customers, pool_share=args.pool_share, seed=args.seed)
        print(f"Customers: {args.customers:,} in {time.perf_counter() - t0:.1f} s", flush=True)
    t0 = time.perf_counter()
    _setup.analyze()
    print(f"ANALYZE: {time.perf_counter() - t0:.1f} s", flush=True)

    # Sanity: phones round-trip (encrypted once, readable with the keys in var_dir).
    sample = Customer.objects.only("phone", "phone_last4").first()
    assert sample.phone.endswith(sample.phone_last4) and len(sample.phone) == 11, "phone does not decrypt"

    personas = argparse.Namespace(
        **{u.username: u for u in User.objects.filter(username__in=["agent", "lead", "manager", "admin"])}
    )
    inputs = samples(personas, args.repeat, args.seed)
    results = []
    for sc in scenarios(personas, inputs):
        print(f"… {sc.key}", flush=True)
        results.append(run_scenario(sc, args.repeat))

    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT pg_size_pretty(pg_total_relation_size('customers_customer')), "
                "pg_size_pretty(pg_total_relation_size('customers_customernamegram')), current_setting('server_version')"
            )
            size, gram_size, version = cursor.fetchone()
        else:
            size, gram_size, version = "n/a", "n/a", connection.Database.sqlite_version
    meta = {
        "when": dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"{connection.vendor} {version}",
        "vendor": connection.vendor,
        "customers": Customer.objects.count(),
        "staff": User.objects.count(),
        "branches": Branch.objects.exclude(kind="region").count(),
    }
    failures = report(results, args, meta, args.explain_all)
    print()
    print(
        f"customers_customer on disk (with indexes): {size}; customers_customernamegram: {gram_size}; "
        f"whole run {time.perf_counter() - started:.0f} s"
    )
    if failures:
        print("\nOVER BUDGET:\n  " + "\n  ".join(failures))
        return 1
    print("\nWithin budget.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
