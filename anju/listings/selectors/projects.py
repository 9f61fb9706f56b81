"""Reads for new-home projects and their buildings: the unit counts shown by the project list, the
project page and the projects API (R3.1.1).

Projects are company resources: every read starts from ``Project.objects.visible_to(viewer)``
(DESIGN.md §1). The counts are correlated subqueries or one grouped query, so a page of projects
or a project with many buildings costs the same number of queries.
"""

from __future__ import annotations

from collections import Counter, defaultdict

from django.db.models import Count, IntegerField, OuterRef, Q, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce

from ..choices import ListingStatus
from ..models import Building, Listing, Project


def _count_of(queryset: QuerySet, outer: str) -> Coalesce:
    """A correlated COUNT as an annotation (no row multiplication from several joins)."""
    counted = queryset.filter(**{outer: OuterRef("pk")}).order_by().values(outer).annotate(n=Count("pk")).values("n")
    return Coalesce(Subquery(counted, output_field=IntegerField()), Value(0))


def project_list_for(
    viewer, *, name: str = "", text: str = "", city: str = "", district: str = ""
) -> QuerySet[Project]:
    """Projects the viewer may see, by name, each with ``building_count``, ``listing_count`` (its
    units) and ``available_count``.

    ``name`` matches part of the project name (the API), ``text`` part of the name, district or
    developer (the list page's search box); ``city`` and ``district`` match exactly.
    """
    queryset = Project.objects.visible_to(viewer).select_related("branch")
    if name.strip():
        queryset = queryset.filter(name__icontains=name.strip())
    if text.strip():
        term = text.strip()
        queryset = queryset.filter(Q(name__icontains=term) | Q(district__icontains=term) | Q(developer__icontains=term))
    if city:
        queryset = queryset.filter(city=city)
    if district:
        queryset = queryset.filter(district=district)
    return queryset.annotate(
        building_count=_count_of(Building.objects.all(), "project"),
        listing_count=_count_of(Listing.objects.all(), "project"),
        available_count=_count_of(Listing.objects.filter(status=ListingStatus.AVAILABLE), "project"),
    ).order_by("name", "pk")


def project_buildings(project: Project) -> list[Building]:
    """The project's buildings by name, each with ``status_counts`` (status → units), ``unit_count``
    and ``available_count``; two queries whatever the number of buildings."""
    buildings = list(Building.objects.filter(project=project).order_by("name", "pk"))
    counts: dict[int, Counter] = defaultdict(Counter)
    rows = (
        Listing.objects.filter(building_id__in=[building.pk for building in buildings])
        .values("building_id", "status")
        .annotate(n=Count("pk"))
        .order_by()
    )
    for row in rows:
        counts[row["building_id"]][row["status"]] = row["n"]
    for building in buildings:
        building.status_counts = counts[building.pk]
        building.unit_count = sum(building.status_counts.values())
        building.available_count = building.status_counts.get(ListingStatus.AVAILABLE, 0)
    return buildings
