"""Demo listings for ``seed_demo`` (issue #4): two new-home projects with buildings and units in
every status, resale listings (some overdue for re-verification), photos drawn locally, and
company resources — written through the services (see ``anju/org/demo.py`` for the step contract).

As in ``anju/customers/demo.py``, history is made by moving timestamps back after the services
wrote the records ("verified 45 days ago"), never by bypassing the business rules.
"""

from __future__ import annotations

import datetime as dt
import io
from decimal import Decimal

from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from django.utils.translation import gettext as _

from .models import Listing, Resource
from .services.imports import price_list_import
from .services.listings import listing_change_status, listing_create
from .services.photos import photo_upload
from .services.projects import building_create, project_create
from .services.resources import resource_upload

COMMUNITIES = [
    ("滨江区", "滨江花园", "江南大道"),
    ("滨江区", "星耀城", "长河路"),
    ("西湖区", "西溪诚园", "文二西路"),
    ("西湖区", "翠苑一区", "文三路"),
    ("上城区", "钱江新城公寓", "富春路"),
    ("拱墅区", "运河天地", "湖墅南路"),
    ("余杭区", "未来科技城小区", "文一西路"),
]
ORIENTATIONS = ["south", "south_north", "east", "west", "southeast"]
DECORATIONS = ["shell", "simple", "fine", "luxury"]


def demo_image(text: str, *, color: tuple[int, int, int]) -> SimpleUploadedFile:
    """A real PNG drawn with Pillow (no files shipped, nothing downloaded)."""
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (960, 640), color)
    draw = ImageDraw.Draw(image)
    draw.rectangle((80, 80, 880, 560), outline=(255, 255, 255), width=8)
    draw.line((80, 320, 880, 320), fill=(255, 255, 255), width=4)
    draw.line((480, 80, 480, 560), fill=(255, 255, 255), width=4)
    draw.text((100, 100), text, fill=(255, 255, 255))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return SimpleUploadedFile(f"{text}.png", buffer.getvalue(), content_type="image/png")


def _resale(ctx, agent, index: int) -> Listing:
    faker = ctx.faker
    district, community, road = COMMUNITIES[index % len(COMMUNITIES)]
    rooms = faker.random_int(1, 4)
    area = 45 + rooms * 25 + faker.random_int(0, 20)
    total_floors = faker.random_element([6, 11, 18, 26, 33])
    price = round(area * faker.random_int(28, 62) / 100)
    return listing_create(
        actor=agent,
        title=f"{community} {rooms}室{faker.random_int(1, 2)}厅 {area}㎡",
        city="杭州",
        district=district,
        community=community,
        address=f"{road}{faker.random_int(1, 999)}号",
        building_no=str(faker.random_int(1, 20)),
        unit_no=str(faker.random_int(1, 4)),
        room_no=f"{faker.random_int(1, total_floors)}{faker.random_int(1, 4):02d}",
        floor=faker.random_int(1, total_floors),
        total_floors=total_floors,
        built_area=str(area),
        usable_area=str(round(area * 0.82, 2)),
        rooms=rooms,
        halls=faker.random_int(1, 2),
        baths=faker.random_int(1, 2),
        orientation=faker.random_element(ORIENTATIONS),
        decoration=faker.random_element(DECORATIONS),
        certificate_status="issued",
        mortgaged=faker.boolean(25),
        near_school=faker.boolean(60),
        school_names=faker.random_element(["", "滨江一小、江南实验学校", "学军小学", "文三街小学"]),
        near_transit=faker.boolean(70),
        near_hospital=faker.boolean(40),
        near_commerce=faker.boolean(60),
        facility_notes="小区人车分流，物业口碑好",
        total_price=str(max(price, 60)),
        contact_name=faker.name(),
        contact_phone=ctx.unique_phone(),
        tags=faker.random_elements(["满五唯一", "近地铁", "学区房", "南北通透"], length=2, unique=True),
    )


def seed_resale(ctx) -> list[Listing]:
    """Resale listings collected by the agents; a third verified long ago (stale), some not available."""
    agents = [ctx.users["agent"], ctx.users["agent2"], ctx.users["agent3"]]
    listings = []
    for index in ctx.progress(range(12 * ctx.scale), desc="listings", unit="listing"):
        agent = agents[index % len(agents)]
        listing = _resale(ctx, agent, index)
        if index % 3 == 0:
            Listing.objects.filter(pk=listing.pk).update(
                last_verified_at=timezone.now() - dt.timedelta(days=35 + index)
            )
        if index % 7 == 6:
            listing_change_status(actor=agent, listing=listing, to_status="off_market", reason="业主暂不出售")
        listings.append(listing)
    ctx.summary[_("Resale listings")] = len(listings)
    return listings


PROJECTS = [
    # key, name, district, address, developer, buildings: (name, floors, units per floor, area, rooms, base price)
    (
        "a",
        "滨江壹号",
        "滨江区",
        "江南大道 1888 号",
        "安居置业（杭州）有限公司",
        [("1幢", 18, 4, "89.00", 3, "268"), ("2幢", 26, 2, "128.00", 4, "415")],
    ),
    ("b", "西溪云庐", "西湖区", "文二西路 666 号", "安居置业（杭州）有限公司", [("A座", 11, 3, "105.00", 3, "380")]),
]
STATUS_PATTERN = ["available"] * 6 + ["reserved", "sold", "sold", "off_market"]


def _price_sheet(project) -> SimpleUploadedFile:
    """A price list like the ones sales offices receive: higher floors cost more."""
    from openpyxl import Workbook

    workbook = Workbook()
    sheet = workbook.active
    sheet.append(["楼栋", "房号", "总价(万元)"])
    for unit in Listing.objects.filter(project=project).order_by("building__name", "floor", "unit_no"):
        premium = Decimal(unit.floor) * Decimal("1.8") + (Decimal(3) if unit.unit_no in ("01", "02") else 0)
        sheet.append([unit.building.name, unit.room_no, float(unit.total_price + premium)])
    buffer = io.BytesIO()
    workbook.save(buffer)
    name = f"{project.name}价目表.xlsx"
    return SimpleUploadedFile(name, buffer.getvalue(), content_type="application/octet-stream")


def seed_projects(ctx) -> None:
    """Two new-home projects: buildings generated, priced by an imported price list, units in every status."""
    for key, name, district, address, developer, buildings in PROJECTS:
        actor = ctx.users["manager"] if key == "a" else ctx.actor
        project = project_create(
            actor=actor,
            name=name,
            city="杭州",
            district=district,
            address=address,
            branch=ctx.branches[key],
            developer=developer,
            description="地铁口精装住宅，配建幼儿园与商业中心",
        )
        for b_name, floors, per_floor, area, rooms, price in buildings:
            building_create(
                actor=actor,
                project=project,
                name=b_name,
                floors=floors,
                units_per_floor=per_floor,
                built_area=area,
                usable_area=str(round(Decimal(area) * Decimal("0.8"), 2)),
                rooms=rooms,
                halls=2,
                baths=2 if rooms > 2 else 1,
                orientation="south",
                decoration="fine",
                base_price=price,
                contact_name="案场销售热线",
                contact_phone="13800571888",
            )
        sheet = _price_sheet(project)
        price_list_import(actor=actor, project=project, file=sheet, filename=sheet.name)
        units = Listing.objects.filter(project=project).order_by("building__name", "floor", "unit_no")
        for index, unit in enumerate(units):
            status = STATUS_PATTERN[(index * 7) % len(STATUS_PATTERN)]
            if status != "available":
                reason = {"reserved": "客户已交认购金", "sold": "已签约网签", "off_market": "开发商保留房源"}[status]
                listing_change_status(actor=actor, listing=unit, to_status=status, reason=reason)
        photo_upload(
            actor=actor,
            listing=units.first(),
            file=demo_image("floor plan 3-2-2", color=(70, 110, 160)),
            kind="floor_plan",
            caption="三室两厅两卫户型图",
        )
        resource_upload(
            actor=actor, kind="price_sheet", title=f"{name} 一房一价表", project=project, file=_price_sheet(project)
        )
        resource_upload(
            actor=actor,
            kind="floor_plan",
            title=f"{name} 主力户型图",
            project=project,
            file=demo_image("main layouts", color=(90, 140, 110)),
        )
    ctx.summary[_("New-home units")] = Listing.objects.filter(kind="new_home").count()


def seed_photos(ctx, listings: list[Listing]) -> None:
    colors = [(180, 120, 90), (100, 140, 180), (120, 160, 120)]
    for index, listing in enumerate(listings[:6]):
        photo_upload(
            actor=listing.collector,
            listing=listing,
            file=demo_image("living room", color=colors[index % 3]),
            caption="客厅实景",
        )


def seed_listings(ctx) -> None:
    """The listings step of ``seed_demo``."""
    seed_projects(ctx)
    seed_photos(ctx, seed_resale(ctx))
    resource_upload(actor=ctx.actor, kind="sales_tool", title="购房贷款计算表", file=_loan_calculator())
    ctx.summary[_("Company resources")] = Resource.objects.count()


def _loan_calculator() -> SimpleUploadedFile:
    from openpyxl import Workbook

    workbook = Workbook()
    sheet = workbook.active
    sheet.append(["贷款总额(万元)", "年利率", "年限", "月供(元)"])
    sheet.append([200, 0.031, 30, "=A2*10000*B2/12*(1+B2/12)^(C2*12)/((1+B2/12)^(C2*12)-1)"])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return SimpleUploadedFile("贷款计算表.xlsx", buffer.getvalue(), content_type="application/octet-stream")
