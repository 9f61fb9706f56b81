"""Listing-search benchmark against the performance budget (DESIGN.md "Performance budget").

    python bench/listings_bench.py --fresh --listings 200000 \\
        --database-url postgres://postgres@127.0.0.1:5432/anju_bench_listings
    python bench/listings_bench.py --fresh --listings 200000 --database-url sqlite:////tmp/anju_bench_listings.sqlite3

Builds a dedicated database (personas + ~50 branches + ~2,000 staff + projects, buildings and N
listings with realistic Chinese communities and addresses, and their SearchGram rows, in bulk),
runs ANALYZE, then times the listing list as the list view runs it: five filters + sort + page,
the Chinese substring search with 2, 3 and 4 characters (common and rare terms), search combined
with filters, tag and "only mine" filters. Prints p50/p95/max, queries per page, the EXPLAIN of
every listing query, and exits 1 when "listing search with five filters + sort + page" has a
p95 ≥ 100 ms. See bench/README.md ("Listings search").
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
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _setup  # bench/ is not a package: _setup sits next to this file
from customers_bench import raw_timestamps

PAGE_SIZE = 50  # anju.org.views._common.PAGE_SIZE
BATCH = 5000  # listings per bulk_create (their grams go in batches of GRAM_BATCH rows)
GRAM_BATCH = 20000
DEFAULT_URL = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/anju_bench_listings")
BUDGET_MS = 100.0  # DESIGN.md: listing search with five filters + sort + page p95 < 100 ms
_LISTING_TABLES = re.compile(r"\b(listings_listing|listings_searchgram)\b")
_FULL_SCAN = {
    "postgresql": re.compile(r"Seq Scan on (listings_listing|listings_searchgram)\b"),
    "sqlite": re.compile(r"\bSCAN (TABLE )?(listings_listing|listings_searchgram|U0)\b(?! USING)"),
}

# --- a realistic market --------------------------------------------------------------------------


def _words(text: str) -> list[str]:
    return text.split()


CITIES: dict[str, dict] = {
    "杭州": {
        "weight": 34,
        "unit": (26000, 62000),
        "districts": [
            "上城区",
            "拱墅区",
            "西湖区",
            "滨江区",
            "萧山区",
            "余杭区",
            "临平区",
            "钱塘区",
            "富阳区",
            "临安区",
        ],
    },
    "上海": {
        "weight": 26,
        "unit": (38000, 115000),
        "districts": [
            "黄浦区",
            "徐汇区",
            "长宁区",
            "静安区",
            "普陀区",
            "虹口区",
            "杨浦区",
            "闵行区",
            "宝山区",
            "浦东新区",
            "松江区",
            "嘉定区",
            "青浦区",
        ],
    },
    "南京": {
        "weight": 16,
        "unit": (22000, 52000),
        "districts": ["玄武区", "秦淮区", "建邺区", "鼓楼区", "栖霞区", "雨花台区", "江宁区", "浦口区"],
    },
    "苏州": {
        "weight": 14,
        "unit": (18000, 42000),
        "districts": ["姑苏区", "吴中区", "相城区", "虎丘区", "吴江区", "工业园区"],
    },
    "宁波": {"weight": 10, "unit": (16000, 36000), "districts": ["海曙区", "江北区", "鄞州区", "镇海区", "北仑区"]},
}
BRANDS = _words("万科 绿城 保利 龙湖 华润 中海 招商 融创 金地 碧桂园 旭辉 滨江 越秀 建发 金茂")
PLACES = _words(
    "翠苑 嘉绿 古荡 文新 三墩 紫金 留下 九堡 彭埠 丁桥 笕桥 采荷 景芳 南星 望江 湖滨 北山 西溪 闲林 良渚 "
    "仓前 五常 蒋村 转塘 之江 钱江 奥体 湘湖 宁围 盈丰 新塘 临浦 瓜沥 星桥 乔司 塘栖 东新 和睦 大关 米市 "
    "朝晖 潮鸣 白马 天水 长庆 小营 清波 凯旋 闸弄 四季 金沙 下沙 白杨 义蓬 富春 银湖 锦城 青山 玲珑 梅园 "
    "桂花 香樟 梧桐 海棠 玉兰 丁香 玫瑰 枫林 竹园 松涛 柳岸 荷塘 蓝湾 金湾 星河 云栖 月桂 春江 秋水 冬青"
)
SUFFIXES = [
    "花园",
    "小区",
    "新村",
    "家园",
    "公寓",
    "华庭",
    "名苑",
    "雅苑",
    "府",
    "一品",
    "国际",
    "壹号院",
    "城",
    "湾",
    "苑",
    "里",
    "公馆",
    "山庄",
    "嘉园",
    "佳苑",
    "北区",
    "南区",
    "一期",
    "二期",
    "三期",
    "东苑",
    "西苑",
    "中心",
    "广场",
    "天地",
]
ROAD_WORDS = _words(
    "文三 文一 文二 教工 学院 古墩 莫干山 天目山 西溪 余杭塘 留和 紫金港 丰潭 江南 滨盛 江虹 长河 "
    "之江 复兴 秋涛 艮山 庆春 凤起 体育场 延安 中山 解放 建国 环城 沈塘 石祥 上塘 东新 新华 人民 "
    "市心 金城 通惠 钱江 民心 富春 春晖 金鸡 望湖 青年 胜利 和平 友谊 光明 迎宾 航海 长江 黄河"
)
ROAD_ENDS = ["路", "路", "路", "大道", "街", "东路", "西路", "南路", "北路", "中路"]
ORIENT_CN = {
    "south": "朝南",
    "south_north": "南北通透",
    "east": "朝东",
    "west": "朝西",
    "north": "朝北",
    "east_west": "东西向",
    "southeast": "东南向",
    "southwest": "西南向",
}
ORIENT_W = {
    "south": 34,
    "south_north": 28,
    "southeast": 10,
    "southwest": 8,
    "east": 8,
    "west": 5,
    "east_west": 4,
    "north": 3,
}
DECO_CN = {"shell": "毛坯", "simple": "简装", "fine": "精装", "luxury": "豪装"}
DECO_W = {"shell": 15, "simple": 30, "fine": 45, "luxury": 10}
STATUS_W = {"available": 60, "reserved": 5, "sold": 25, "off_market": 10}
ROOMS_W = {1: 10, 2: 30, 3: 38, 4: 16, 5: 6}
AREA_BY_ROOMS = {1: (35, 62), 2: (55, 95), 3: (85, 140), 4: (118, 200), 5: (160, 320)}
TAGS = [
    "满五唯一",
    "满二",
    "学区房",
    "近地铁",
    "电梯房",
    "带车位",
    "急售",
    "南北通透",
    "拎包入住",
    "低总价",
    "新上",
    "税费少",
    "采光好",
    "看房方便",
]
SELLING_POINTS = ["满五唯一", "近地铁", "学区房", "拎包入住", "业主急售", "采光好", "视野开阔", "带车位", ""]
MOBILE_PREFIXES = ["138", "139", "137", "136", "135", "150", "151", "158", "159", "186", "187", "188", "177", "199"]


def _cum(weights: dict):
    keys, cum, total = list(weights), [], 0
    for key in keys:
        total += weights[key]
        cum.append(total)
    return keys, cum


@dataclass
class Community:
    name: str
    city: str
    district: str
    road: str
    number: int
    weight: float
    unit_price: int  # CNY/㎡ around which its listings are priced


def make_communities(rng: random.Random, count: int) -> list[Community]:
    """Unique community names per city, log-normal popularity (some have hundreds of listings)."""
    city_keys, city_cum = _cum({city: spec["weight"] for city, spec in CITIES.items()})
    roads = {city: [w + rng.choice(ROAD_ENDS) for w in rng.sample(ROAD_WORDS, 30)] for city in CITIES}
    seen: set[tuple[str, str]] = set()
    found: list[Community] = []
    while len(found) < count:
        city = rng.choices(city_keys, cum_weights=city_cum)[0]
        roll = rng.random()
        place = rng.choice(PLACES)
        if roll < 0.25:
            name = rng.choice(BRANDS) + place + rng.choice(SUFFIXES)
        elif roll < 0.35:
            name = place + rng.choice("一二三四五六") + "区"
        else:
            name = place + rng.choice(SUFFIXES)
        if (city, name) in seen:
            continue
        seen.add((city, name))
        low, high = CITIES[city]["unit"]
        found.append(
            Community(
                name=name,
                city=city,
                district=rng.choice(CITIES[city]["districts"]),
                road=rng.choice(roads[city]),
                number=rng.randrange(1, 999),
                weight=rng.lognormvariate(0, 1.1),
                unit_price=int(rng.uniform(low, high)),
            )
        )
    return found


@dataclass
class Seeded:
    listings: int = 0
    grams: int = 0
    projects: int = 0
    buildings: int = 0
    seconds: float = 0.0
    communities: list = field(default_factory=list)


def insert_grams(rows: list[tuple[int, str]]) -> None:
    """SearchGram rows, ~70 per listing (14M for 200k listings): COPY on PostgreSQL, executemany on SQLite.

    ``SearchGram.objects.bulk_create`` spends ~50 µs of Python per row building model instances
    (≈ 20 min for 200k listings); the rows written are the same (``grams_of(search_text_for(…))``).
    """
    from django.db import connection

    from anju.listings.models import SearchGram

    table = SearchGram._meta.db_table
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            with cursor.cursor.copy(f"COPY {table} (listing_id, gram) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        else:
            for start in range(0, len(rows), GRAM_BATCH):
                cursor.executemany(
                    f"INSERT INTO {table} (listing_id, gram) VALUES (%s, %s)",  # noqa: S608
                    rows[start : start + GRAM_BATCH],
                )


def seed_listings(org, n: int, *, seed: int, new_home_share: float = 0.3) -> Seeded:
    """Projects with buildings (new-home units) and resale listings in communities, plus SearchGram rows."""
    from django.db import transaction
    from django.utils import timezone
    from tqdm import tqdm

    from anju.core.crypto import blind_index
    from anju.listings.models import Building, Listing, Project
    from anju.listings.search import grams_of, search_text_for

    started = time.perf_counter()
    rng = random.Random(seed)
    p = org.personas
    communities = make_communities(rng, max(200, n // 40))
    collectors = [(u, b) for b, users in org.owners_by_branch.items() for u in users]
    collector_cum, acc = [], 0.0
    for _ in collectors:
        acc += rng.lognormvariate(0, 0.7)
        collector_cum.append(acc)
    comm_cum, acc = [], 0.0
    for community in communities:
        acc += community.weight
        comm_cum.append(acc)

    # New-home projects: the most popular communities become projects with buildings.
    n_new = int(n * new_home_share)
    project_communities = sorted(communities, key=lambda c: -c.weight)[: max(10, n_new // 300)]
    projects = Project.objects.bulk_create(
        [
            Project(
                name=c.name,
                city=c.city,
                district=c.district,
                address=f"{c.road} {c.number} 号",
                developer=(c.name[:2] if c.name[:2] in BRANDS else rng.choice(BRANDS)) + "地产",
                branch=rng.choice(org.branches),
                created_by=p.admin,
            )
            for c in project_communities
        ]
    )
    units: list[tuple] = []  # (project, community, building, floor, unit_no, total_floors)
    buildings = []
    per_project = max(1, n_new // len(projects) + 1)
    for project, community in zip(projects, project_communities, strict=True):
        made = 0
        number = 1
        while made < per_project:
            floors = rng.choice([11, 18, 26, 33])
            per_floor = rng.choice([2, 2, 3, 4])
            building = Building(project=project, name=f"{number}幢", floors=floors, units_per_floor=per_floor)
            buildings.append(building)
            for floor in range(1, floors + 1):
                for unit in range(1, per_floor + 1):
                    units.append((project, community, building, floor, f"{floor}{unit:02d}", floors))
            made += floors * per_floor
            number += 1
    Building.objects.bulk_create(buildings, batch_size=BATCH)
    rng.shuffle(units)
    units = units[:n_new]

    orient_keys, orient_cum = _cum(ORIENT_W)
    deco_keys, deco_cum = _cum(DECO_W)
    status_keys, status_cum = _cum(STATUS_W)
    rooms_keys, rooms_cum = _cum(ROOMS_W)
    now = timezone.now()
    span = dt.timedelta(days=730).total_seconds()
    inserted = grams_total = 0
    bar = tqdm(total=n, unit="listing", desc="listings", smoothing=0.1, mininterval=1.0)
    with raw_timestamps(Listing):
        while inserted < n:
            size = min(BATCH, n - inserted)
            batch = []
            picks = rng.choices(range(len(communities)), cum_weights=comm_cum, k=size)
            owners = rng.choices(range(len(collectors)), cum_weights=collector_cum, k=size)
            for i in range(size):
                index = inserted + i
                rooms = rng.choices(rooms_keys, cum_weights=rooms_cum)[0]
                low, high = AREA_BY_ROOMS[rooms]
                area = Decimal(f"{rng.uniform(low, high):.2f}")
                orientation = rng.choices(orient_keys, cum_weights=orient_cum)[0]
                decoration = rng.choices(deco_keys, cum_weights=deco_cum)[0]
                status = rng.choices(status_keys, cum_weights=status_cum)[0]
                if index < len(units):
                    project, community, building, floor, unit_no, total_floors = units[index]
                    kind, building_no, room_no = "new_home", building.name, unit_no
                    address = f"{community.road} {community.number} 号 {building.name}"
                    decoration = rng.choice(["shell", "fine", "fine"])
                else:
                    project, building = None, None
                    community = communities[picks[i]]
                    total_floors = rng.choice([6, 7, 11, 18, 24, 26, 33])
                    floor = rng.randint(1, total_floors)
                    kind = "resale"
                    building_no, unit_no = str(rng.randint(1, 40)), str(rng.randint(1, 4))
                    room_no = f"{floor}{rng.randint(1, 4):02d}"
                    road_no = community.number + rng.randint(0, 3) * 2
                    if community.city == "上海":
                        address = f"{community.road} {road_no} 弄 {building_no} 号"
                    else:
                        address = f"{community.road} {road_no} 号 {building_no} 幢"
                unit_price = community.unit_price * rng.uniform(0.85, 1.15)
                total = Decimal(f"{max(float(area) * unit_price / 10000, 20):.2f}")
                point = rng.choice(SELLING_POINTS)
                title = f"{community.name} {rooms}室{rng.choice([1, 1, 2])}厅 {ORIENT_CN[orientation]} {DECO_CN[decoration]}"
                if point:
                    title += f" {point}"
                updated = now - dt.timedelta(seconds=span * rng.random() ** 2)
                created = updated - dt.timedelta(days=rng.uniform(0, 365))
                # Most active listings are re-verified on time; ~15 % are past their 30 days.
                age = rng.uniform(0, 29) if rng.random() < 0.85 else rng.uniform(31, 120)
                verified = min(now - dt.timedelta(days=age), updated)
                phone = rng.choice(MOBILE_PREFIXES) + f"{rng.randrange(10**8):08d}"
                collector, branch_id = collectors[owners[i]]
                listing = Listing(
                    kind=kind,
                    title=title,
                    project=project,
                    building=building,
                    city=community.city,
                    district=community.district,
                    community=community.name,
                    address=address,
                    building_no=building_no,
                    unit_no=unit_no,
                    room_no=room_no,
                    floor=floor,
                    total_floors=total_floors,
                    built_area=area,
                    usable_area=(area * Decimal("0.8")).quantize(Decimal("0.01")),
                    rooms=rooms,
                    halls=rng.choice([1, 1, 2]),
                    baths=1 if rooms < 3 else 2,
                    orientation=orientation,
                    decoration=decoration,
                    certificate_status="presale" if kind == "new_home" else "issued",
                    near_school=rng.random() < 0.3,
                    near_transit=rng.random() < 0.4,
                    near_hospital=rng.random() < 0.2,
                    near_commerce=rng.random() < 0.5,
                    total_price=total,
                    unit_price=Listing.compute_unit_price(total, area),
                    contact_name=_setup.fake_name(rng)[0] + rng.choice(["先生", "女士"]),
                    # Plaintext on purpose: EncryptedTextField encrypts on the way in (see customers_bench).
                    contact_phone=phone,
                    contact_phone_index=blind_index(phone, purpose="listing.contact_phone"),
                    status=status,
                    tags=rng.sample(TAGS, rng.choice([0, 0, 1, 1, 2, 3])),
                    collector=collector,
                    team_id=collector.team_id,
                    branch_id=branch_id,
                    last_verified_at=verified,
                    last_verified_by=collector,
                    created_at=created,
                    updated_at=updated,
                )
                listing.search_text = search_text_for(listing)
                batch.append(listing)
            with transaction.atomic():
                Listing.objects.bulk_create(batch, batch_size=BATCH)
                grams = [(listing.pk, gram) for listing in batch for gram in grams_of(listing.search_text)]
                insert_grams(grams)
            grams_total += len(grams)
            inserted += size
            bar.update(size)
    bar.close()
    return Seeded(
        listings=n,
        grams=grams_total,
        projects=len(projects),
        buildings=len(buildings),
        seconds=time.perf_counter() - started,
        communities=communities,
    )


# --- scenarios -----------------------------------------------------------------------------------


def _fresh_request(user) -> None:
    """Forget per-request caches so each call pays for the role lookup a real request does."""
    for attr in ("_anju_scope", "_anju_role_codes", "_anju_subtree_ids"):
        user.__dict__.pop(attr, None)


def list_page(user, page: int = 1, page_size: int = PAGE_SIZE, **filters) -> int:
    """What the list view does: the Paginator's count(), one page, the stale marks, what the rows read."""
    from anju.listings.selectors.listings import listing_list_for, mark_stale

    _fresh_request(user)
    queryset = listing_list_for(user, **filters)
    total = queryset.count()
    start = (page - 1) * page_size
    rows = mark_stale(list(queryset[start : start + page_size])) if total > start else []
    for listing in rows:
        str(listing.collector)
        str(listing.branch)
        str(listing.project or "")
        listing.layout  # noqa: B018
        listing.get_status_display()
        listing.get_orientation_display()
    return total


def view_partial(user, params: dict) -> int:
    """The whole list view as an HTMX filter request (form, selector, page, template)."""
    from django.test import RequestFactory
    from django_htmx.middleware import HtmxDetails

    from anju.listings.views.listing_list import listing_list

    _fresh_request(user)
    request = RequestFactory().get("/listings/", params, HTTP_HX_REQUEST="true")
    request.user = user
    request.htmx = HtmxDetails(request)
    response = listing_list(request)
    assert response.status_code == 200, response.status_code
    return len(response.content)


@dataclass
class Scenario:
    key: str
    label: str
    call: object  # fn(i) -> rows matched (or None)
    budget: bool = False
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
    db_ms: float | None


def samples(seed: int, n: int) -> dict:
    """Inputs that rotate over the repetitions: filter sets and search terms (common and rare)."""
    from django.db.models import Count

    from anju.listings.choices import ACTIVE_STATUSES
    from anju.listings.models import Listing

    rng = random.Random(seed + 1)
    by_district = list(
        Listing.objects.values("city", "district")
        .annotate(n=Count("id"))
        .order_by("-n", "district")
        .values_list("district", "n")
    )
    districts = [d for d, _ in by_district]
    weights = [count for _, count in by_district]
    # Terms are cut from community names and classified by how many listings of the default list
    # (available + reserved) contain them: common ≥ COMMON_MIN matches, rare 1–RARE_MAX.
    communities = list(
        Listing.objects.filter(status__in=ACTIVE_STATUSES)
        .values("community")
        .annotate(n=Count("id"))
        .order_by("-n", "community")
        .values_list("community", flat=True)
    )
    popular, others = communities[:60], communities[60:]
    rng.shuffle(others)
    terms = {"1_common": [(term, None) for term in "园区花苑"]}
    for k in (2, 3, 4):
        terms[f"{k}_common"] = _classified(popular, k, lambda n: n >= COMMON_MIN)
        terms[f"{k}_rare"] = _classified(others, k, lambda n: 1 <= n <= RARE_MAX)

    five = []  # district + price range + area range + rooms + status (default: available + reserved)
    bands = {2: ("55", "95"), 3: ("85", "140"), 4: ("118", "200")}
    for _ in range(n):
        rooms = rng.choice([2, 3, 3, "4+"])
        area_min, area_max = bands[4 if rooms == "4+" else rooms]
        low = rng.choice([100, 150, 200, 300, 400])
        five.append(
            {
                "district": rng.choices(districts, weights=weights)[0],
                "price_min": Decimal(low),
                "price_max": Decimal(low + rng.choice([100, 200, 300, 500])),
                "area_min": Decimal(area_min),
                "area_max": Decimal(area_max),
                "rooms": rooms,
            }
        )
    return {
        "five": five,
        "top_district": districts[0],
        "search": terms,
    }


COMMON_MIN, RARE_MAX, TERMS_PER_CLASS = 500, 20, 20


def _classified(names: list[str], k: int, keep) -> list[tuple[str, int]]:
    """Up to TERMS_PER_CLASS distinct k-character substrings of ``names`` whose match count passes ``keep``."""
    from anju.listings.choices import ACTIVE_STATUSES
    from anju.listings.models import Listing
    from anju.listings.search import search_q

    found, seen = [], set()
    for name in names:
        for start in range(len(name) - k + 1):
            term = name[start : start + k]
            if term in seen:
                continue
            seen.add(term)
            matches = Listing.objects.filter(status__in=ACTIVE_STATUSES).filter(search_q(term)).count()
            if keep(matches):
                found.append((term, matches))
                if len(found) == TERMS_PER_CLASS:
                    return found
    return found


def scenarios(p, s) -> list[Scenario]:
    def pick(values, i):
        return values[i % len(values)]

    agent, manager = p.agent, p.manager
    five = s["five"]
    terms = s["search"]
    result = [
        Scenario(
            "default_list",
            "Default list (available + reserved, recently updated), agent",
            lambda i: list_page(agent),
            page_call=lambda size: list_page(agent, page_size=size),
        ),
    ]
    for sort in ("price_asc", "unit_price_desc", "area_desc", "updated"):
        result.append(
            Scenario(
                f"five_{sort}",
                f"5 filters (district, price, area, rooms, status) + sort {sort} + page 1",
                lambda i, sort=sort: list_page(agent, sort=sort, **pick(five, i)),
                budget=True,
                page_call=(lambda size: list_page(agent, page_size=size, sort="price_asc", **five[0]))
                if sort == "price_asc"
                else None,
            )
        )
    result += [
        Scenario(
            "five_price_asc_p3",
            "5 filters + price sort, page 3",
            budget=True,
            call=lambda i: list_page(agent, page=3, sort="price_asc", **pick(five, i)),
        ),
        Scenario(
            "five_view_htmx",
            "5 filters + price sort: the whole view (form, page, template), HTMX",
            budget=True,
            call=lambda i: view_partial(agent, {**{k: str(v) for k, v in pick(five, i).items()}, "sort": "price_asc"}),
        ),
        Scenario(
            "district_only_price",
            "district + sort price (top district)",
            lambda i: list_page(agent, district=s["top_district"], sort="price_asc"),
        ),
        Scenario(
            "all_price_desc", "No filter, sort price desc (all active)", lambda i: list_page(manager, sort="price_desc")
        ),
        Scenario(
            "all_unit_price_asc", "No filter, sort unit price asc", lambda i: list_page(manager, sort="unit_price_asc")
        ),
        Scenario("all_area_desc", "No filter, sort area desc", lambda i: list_page(manager, sort="area_desc")),
        Scenario("mine", "Only my listings (agent)", lambda i: list_page(agent, mine=True)),
        Scenario(
            "tag_plus_district",
            "tag 学区房 + district",
            lambda i: list_page(agent, tag="学区房", district=pick(five, i)["district"]),
        ),
    ]
    for key in ("1_common", "2_common", "2_rare", "3_common", "3_rare", "4_common", "4_rare"):
        if not terms[key]:
            continue
        counts = [n for _, n in terms[key] if n is not None]
        spread = f"; {len(counts)} terms, {min(counts):,}–{max(counts):,} matches" if counts else ""
        result.append(
            Scenario(
                f"search_{key}",
                f"search {key.replace('_', ' chars, ')} (e.g. {terms[key][0][0]}{spread})",
                lambda i, key=key: list_page(agent, search=pick(terms[key], i)[0]),
            )
        )
    result += [
        Scenario(
            "search_2_common_five",
            "search 2 chars common + 5 filters + sort price",
            budget=True,
            call=lambda i: list_page(agent, search=pick(terms["2_common"], i)[0], sort="price_asc", **pick(five, i)),
        ),
        Scenario(
            "search_3_rare_sorted",
            "search 3 chars rare + sort unit price desc",
            budget=True,
            call=lambda i: list_page(agent, search=pick(terms["3_rare"], i)[0], sort="unit_price_desc"),
        ),
    ]
    return result


def explain(sql_text: str) -> tuple[str, bool]:
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


def run_scenario(sc: Scenario, repeat: int) -> Result:
    sql = _setup.captured(lambda: sc.call(0))
    rows = sc.call(0)
    by_size = {}
    if sc.page_call is not None:
        by_size = {size: len(_setup.captured(lambda size=size: sc.page_call(size))) for size in (10, 50, 100)}
    plans, seq, db_ms = [], False, None
    for statement in sql:
        if not _LISTING_TABLES.search(statement):
            continue
        plan, full_scan = explain(statement)
        plans.append((statement, plan, full_scan))
        seq = seq or full_scan
        executed = re.search(r"Execution Time: ([\d.]+) ms", plan)
        if executed:
            db_ms = (db_ms or 0.0) + float(executed.group(1))
    timing = _setup.measure(sc.call, repeat=repeat)
    return Result(
        sc,
        timing,
        rows if isinstance(rows, int) and not sc.key.endswith("htmx") else None,
        len(sql),
        by_size,
        seq,
        plans,
        db_ms,
    )


# --- report --------------------------------------------------------------------------------------


def report(results: list[Result], args, meta: dict) -> list[str]:
    failures = []
    print()
    print(f"## Results — {meta['when']} — {meta['machine']}")
    print(
        f"{meta['vendor']}, {meta['listings']:,} listings ({meta['grams']:,} search grams), {meta['staff']:,} staff; "
        f"{args.repeat} repetitions, times in ms (ORM + database; *_htmx: the whole view)"
    )
    print()
    print(
        "| scenario | rows (1st call) | queries/page (10/50/100) | p50 | p95 | max | db (EXPLAIN) | budget p95 | full scan |"
    )
    print("|---|---:|---|---:|---:|---:|---:|---|---|")
    for r in results:
        verdict = ""
        if r.scenario.budget:
            ok = r.timing.p95 < BUDGET_MS
            verdict = f"< {BUDGET_MS:.0f} {'ok' if ok else '**OVER**'}"
            if not ok:
                failures.append(f"{r.scenario.key}: p95 {r.timing.p95:.1f} ms ≥ {BUDGET_MS:.0f} ms")
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
    if not args.no_explain:
        for r in results:
            print()
            plan_kind = "(ANALYZE, BUFFERS)" if meta["vendor"] == "postgresql" else "QUERY PLAN"
            print(f"### EXPLAIN {plan_kind} — {r.scenario.key}")
            for statement, plan, full_scan in r.plans:
                print()
                print(("!! full scan\n" if full_scan else "") + statement)
                print(plan)
    return failures


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--listings", type=int, default=200_000, help="listings to insert (default 200000)")
    parser.add_argument(
        "--database-url", default=DEFAULT_URL, help="postgres://…/anju_bench_listings or sqlite:///path"
    )
    parser.add_argument("--fresh", action="store_true", help="drop and recreate the database first")
    parser.add_argument("--repeat", type=int, default=100, help="timed repetitions per scenario (default 100)")
    parser.add_argument("--branches", type=int, default=50)
    parser.add_argument("--staff", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--var-dir", help="keep the generated keys here (pass it again to re-measure without --fresh)")
    parser.add_argument("--only", help="comma-separated scenario keys (prefix match) to run")
    parser.add_argument("--no-explain", action="store_true", help="do not print the plans")
    return parser.parse_args(argv)


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
    from django.db import connection

    from anju.listings.models import Listing
    from anju.org.models import User

    print(f"Migrating {connection.vendor} database {connection.settings_dict['NAME']} …", flush=True)
    _setup.migrate()
    existing = Listing.objects.count()
    if existing:
        if existing != args.listings:
            sys.exit(f"The database holds {existing} listings, not {args.listings}: pass --fresh.")
        print(f"Reusing the {existing:,} listings already seeded.", flush=True)
    else:
        t0 = time.perf_counter()
        org = _setup.build_org(branches=args.branches, staff=args.staff, seed=args.seed)
        print(
            f"Organisation: {User.objects.count():,} staff, {len(org.branches)} branches "
            f"({time.perf_counter() - t0:.1f} s)",
            flush=True,
        )
        seeded = seed_listings(org, args.listings, seed=args.seed)
        print(
            f"Listings: {seeded.listings:,} ({seeded.projects} projects, {seeded.buildings} buildings, "
            f"{len(seeded.communities):,} communities), {seeded.grams:,} search grams in {seeded.seconds:.1f} s",
            flush=True,
        )
    t0 = time.perf_counter()
    _setup.analyze()
    print(f"ANALYZE: {time.perf_counter() - t0:.1f} s", flush=True)
    return _measure(args, started)


def _measure(args, started: float) -> int:
    from django.db import connection

    from anju.listings.models import Listing, SearchGram
    from anju.org.models import User

    personas = argparse.Namespace(**{u.username: u for u in User.objects.filter(username__in=["agent", "manager"])})
    inputs = samples(args.seed, args.repeat + 10)
    chosen = scenarios(personas, inputs)
    if args.only:
        prefixes = tuple(args.only.split(","))
        chosen = [sc for sc in chosen if sc.key.startswith(prefixes)]
    results = []
    for sc in chosen:
        print(f"… {sc.key}", flush=True)
        results.append(run_scenario(sc, args.repeat))

    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT pg_size_pretty(pg_total_relation_size('listings_listing')), "
                "pg_size_pretty(pg_total_relation_size('listings_searchgram')), current_setting('server_version')"
            )
            size, gram_size, version = cursor.fetchone()
        else:
            size, gram_size, version = "n/a", "n/a", connection.Database.sqlite_version
    meta = {
        "when": dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"{connection.vendor} {version}",
        "vendor": connection.vendor,
        "listings": Listing.objects.count(),
        "grams": SearchGram.objects.count(),
        "staff": User.objects.count(),
    }
    failures = report(results, args, meta)
    print()
    print(
        f"listings_listing on disk (with indexes): {size}; listings_searchgram: {gram_size}; "
        f"whole run {time.perf_counter() - started:.0f} s"
    )
    if failures:
        print("\nOVER BUDGET:\n  " + "\n  ".join(failures))
        return 1
    print("\nWithin budget.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
