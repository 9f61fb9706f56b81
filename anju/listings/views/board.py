"""New-home projects, their buildings and the sales-control board (销控表) of a building (R3.1.1).

Projects are company resources: everyone with a role sees them (anything else is a 404);
managers of the project's sales office create and change them through the services.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _

from anju.core.errors import ApplicationError
from anju.core.forms import apply_error
from anju.core.http import page_of, posted
from anju.core.scoping import get_scoped_or_404

from ..choices import ListingStatus
from ..forms.projects import BoardFilterForm, BuildingForm, ProjectForm
from ..models import Building, Listing, Project
from ..selectors.projects import project_buildings, project_list_for
from ..services import projects as services
from ._common import managed_project

VIEW = "listings.view_project"
MANAGE = "listings.manage_projects"
IMPORT = "listings.import_price_list"
# Status → Bootstrap colour of the board cell and the legend (available green, reserved amber, sold red, off grey).
STATUS_COLOURS = {
    ListingStatus.AVAILABLE: "success",
    ListingStatus.RESERVED: "warning",
    ListingStatus.SOLD: "danger",
    ListingStatus.OFF_MARKET: "secondary",
}
BOARD_FIELDS = [
    "pk",
    "building_id",
    "floor",
    "unit_no",
    "room_no",
    "status",
    "total_price",
    "unit_price",
    "built_area",
    "usable_area",
    "rooms",
    "halls",
    "baths",
    "orientation",
    "decoration",
]


def _visible_project(request, pk: int) -> Project:
    """Out of scope (no role) is a 404; a role without the view permission is a 403."""
    project = get_scoped_or_404(Project.objects.select_related("branch"), request.user, pk=pk)
    if not request.user.has_perm(VIEW):
        raise PermissionDenied
    return project


def _legend(counts: Counter, selected: str = "") -> list[dict]:
    return [
        {
            "value": status.value,
            "label": status.label,
            "colour": STATUS_COLOURS[status],
            "count": counts.get(status.value, 0),
            "selected": selected == status.value,
        }
        for status in ListingStatus
    ]


# --- projects ---------------------------------------------------------------------------------------


@login_required
@permission_required(VIEW, raise_exception=True)
def project_list(request):
    term = (request.GET.get("q") or "").strip()
    page = page_of(request, project_list_for(request.user, text=term))
    rows = [
        {
            "project": project,
            "buildings": project.building_count,
            "units": project.listing_count,
            "available": project.available_count,
        }
        for project in page.object_list
    ]
    return render(request, "listings/projects/project_list.html", {"page_obj": page, "rows": rows, "q": term})


@login_required
@permission_required(MANAGE, raise_exception=True)
def project_create(request):
    form = ProjectForm(posted(request), viewer=request.user)
    if request.method == "POST" and form.is_valid():
        try:
            project = services.project_create(actor=request.user, **form.service_kwargs())
        except ApplicationError as exc:
            apply_error(form, exc)
        else:
            messages.success(request, _("The project %(name)s was created.") % {"name": project.name})
            return redirect("listings:project-detail", pk=project.pk)
    return render(request, "listings/projects/project_form.html", {"form": form})


@login_required
@permission_required(MANAGE, raise_exception=True)
def project_edit(request, pk: int):
    project = managed_project(request, pk)
    form = ProjectForm(posted(request), viewer=request.user, project=project)
    if request.method == "POST" and form.is_valid():
        try:
            services.project_update(actor=request.user, project=project, **form.service_kwargs())
        except ApplicationError as exc:
            apply_error(form, exc)
        else:
            messages.success(request, _("The changes to %(name)s were saved.") % {"name": project.name})
            return redirect("listings:project-detail", pk=project.pk)
    return render(request, "listings/projects/project_form.html", {"form": form, "project": project})


@login_required
def project_detail(request, pk: int):
    project = _visible_project(request, pk)
    total: Counter = Counter()
    rows = []
    for building in project_buildings(project):
        total.update(building.status_counts)
        rows.append({"building": building, "units": building.unit_count, "legend": _legend(building.status_counts)})
    context = {
        "project": project,
        "rows": rows,
        "legend": _legend(total),
        "unit_count": sum(total.values()),
        "resources_url": f"{reverse('listings:resource-list')}?project={project.pk}",
        "can_manage": request.user.has_perm(MANAGE),
        "can_import": request.user.has_perm(IMPORT),
    }
    return render(request, "listings/projects/project_detail.html", context)


@login_required
@permission_required(MANAGE, raise_exception=True)
def building_create(request, pk: int):
    project = managed_project(request, pk)
    form = BuildingForm(posted(request))
    if request.method == "POST" and form.is_valid():
        try:
            building = services.building_create(actor=request.user, project=project, **form.service_kwargs())
        except ApplicationError as exc:
            apply_error(form, exc)
        else:
            messages.success(
                request,
                _("%(building)s was added with %(count)s units.")
                % {"building": building.name, "count": building.floors * building.units_per_floor},
            )
            return redirect("listings:building-board", pk=building.pk)
    return render(request, "listings/projects/building_form.html", {"form": form, "project": project})


# --- the sales-control board -----------------------------------------------------------------------


@dataclass
class BoardCell:
    unit: Listing | None
    colour: str = ""
    dimmed: bool = False
    tip: str = ""
    url: str = ""


def _plain(value) -> str:
    """``1234.50`` → ``1,234.5``: grouped, no trailing zeros (Chinese price lists write prices this way)."""
    return f"{value:,.2f}".rstrip("0").rstrip(".")


def _tip(unit: Listing) -> str:
    return _(
        "Room %(room)s · total %(total)s ×10k CNY · %(unit_price)s CNY/㎡ · %(area)s ㎡ · %(layout)s · %(orientation)s · %(status)s"
    ) % {
        "room": unit.room_no,
        "total": _plain(unit.total_price),
        "unit_price": f"{unit.unit_price:,}",
        "area": _plain(unit.built_area),
        "layout": unit.layout,
        "orientation": unit.get_orientation_display(),
        "status": unit.get_status_display(),
    }


def board_grid(building: Building, units: list[Listing], selected: str = "") -> tuple[list[str], list[dict]]:
    """Columns (unit numbers) and rows (floors, top first) of cells; a missing unit is an empty cell."""
    by_position = {(unit.floor, unit.unit_no): unit for unit in units}
    floors = sorted({*range(1, building.floors + 1), *(unit.floor for unit in units)}, reverse=True)
    columns = sorted(
        {*(f"{number:02d}" for number in range(1, building.units_per_floor + 1)), *(unit.unit_no for unit in units)}
    )
    detail = reverse("listings:listing-detail", args=[0])  # reversed once; each cell swaps in its id
    rows = []
    for floor in floors:
        cells = []
        for column in columns:
            unit = by_position.get((floor, column))
            if unit is None:
                cells.append(BoardCell(None))
                continue
            cells.append(
                BoardCell(
                    unit,
                    colour=STATUS_COLOURS[ListingStatus(unit.status)],
                    dimmed=bool(selected) and unit.status != selected,
                    tip=_tip(unit),
                    url=detail.replace("/0/", f"/{unit.pk}/"),
                )
            )
        rows.append({"floor": floor, "cells": cells})
    return columns, rows


@login_required
def building_board(request, pk: int):
    building = get_scoped_or_404(Building.objects.select_related("project"), request.user, pk=pk)
    if not request.user.has_perm(VIEW):
        raise PermissionDenied
    filters = BoardFilterForm(request.GET or None)
    selected = filters.selected()
    units = list(Listing.objects.filter(building=building).only(*BOARD_FIELDS).order_by("-floor", "unit_no"))
    columns, rows = board_grid(building, units, selected)
    counts = Counter(unit.status for unit in units)
    siblings = list(Building.objects.filter(project_id=building.project_id).order_by("name", "pk").only("pk", "name"))
    context = {
        "building": building,
        "project": building.project,
        "columns": columns,
        "rows": rows,
        "legend": _legend(counts, selected),
        "selected": selected,
        "unit_count": len(units),
        "siblings": siblings,
    }
    return render(request, "listings/board/building_board.html", context)
