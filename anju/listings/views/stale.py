"""Monthly re-verification (R3.1.2): the stale queue (mine / my team / my branch), the re-verify
page (confirm unchanged, or update and verify) and the branch's re-verification interval."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Q
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from anju.core.errors import ApplicationError, PermissionDeniedError
from anju.core.forms import apply_error
from anju.core.http import page_of, posted, wants_partial
from anju.core.scoping import Scope, get_scoped_or_404, scope_of
from anju.org.models import Branch

from ..choices import ACTIVE_STATUSES, ListingStatus
from ..forms.stale import BranchListingSettingsForm, ReverifyConfirmForm, ReverifyUpdateForm
from ..models import BranchListingSettings, Listing, ListingVerification
from ..services import stale as stale_services
from ..services.listings import listing_reverify as reverify_service
from ._common import managed_listing

CHANGE = "listings.change_listing"

TAB_LABELS = {
    "mine": gettext_lazy("Mine"),
    "team": gettext_lazy("My team"),
    "branch": gettext_lazy("My branch"),
    "all": gettext_lazy("All branches"),
}


def _next_url(request, default: str) -> str:
    """A same-site ``next`` (the queue tab the user came from) or ``default``."""
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(target, {request.get_host()}, require_https=request.is_secure()):
        return target
    return default


def _tabs(user) -> list[str]:
    """The queue tabs the user's scope allows, narrowest first."""
    scope = scope_of(user)
    tabs = ["mine"]
    if scope in (Scope.TEAM, Scope.BRANCH) and user.team_id:
        tabs.append("team")
    if scope == Scope.BRANCH:
        tabs.append("branch")
    elif scope == Scope.ALL:
        tabs.append("all")
    return tabs


def _tab_condition(user, tab: str) -> Q:
    if tab == "mine":
        return Q(collector=user)
    if tab == "team":
        return Q(team_id=user.team_id)
    return Q()


def _collector_name(by_collector: list[dict], collector_id: int | None) -> str:
    for row in by_collector:
        if row["collector"] == collector_id:
            return row["collector__display_name"] or row["collector__username"]
    return ""


# --- the stale queue ---------------------------------------------------------------------------


@login_required
@permission_required(CHANGE, raise_exception=True)
def stale_queue(request):
    user = request.user
    rule = stale_services.stale_rule()
    tabs = _tabs(user)
    tab = request.GET.get("tab")
    tab = tab if tab in tabs else tabs[-1]
    managed = stale_services.stale_listings(Listing.objects.restrict(user, "manage"), rule=rule)
    rows = managed.filter(_tab_condition(user, tab))
    collector_id = request.GET.get("collector", "")
    collector_filter = int(collector_id) if collector_id.isdigit() else None
    partial = wants_partial(request)  # paging: the rows only, without the tab counts and summaries
    counts, by_collector, by_branch = {}, [], []
    if not partial:
        counts = managed.order_by().aggregate(
            **{name: Count("pk", filter=_tab_condition(user, name) or None) for name in tabs}
        )
        by_collector = stale_services.counts_by_collector(rows) if tab != "mine" else []
        by_branch = stale_services.counts_by_branch(rows) if tab in ("branch", "all") else []
    if collector_filter is not None:
        rows = rows.filter(collector_id=collector_filter)
    page = page_of(request, rows.select_related("collector", "branch", "last_verified_by"))
    for listing in page:
        listing.verify_days = rule.days_for(listing.branch_id)
        listing.days_overdue = rule.days_overdue(listing)
        listing.verified_days_ago = (rule.now - listing.last_verified_at).days
    context = {
        "tab": tab,
        "tabs": [{"name": name, "label": TAB_LABELS[name], "count": counts.get(name)} for name in tabs],
        "page_obj": page,
        "by_collector": by_collector,
        "by_branch": by_branch,
        "collector_filter": collector_filter,
        "collector_name": _collector_name(by_collector, collector_filter),
        "default_days": stale_services.DEFAULT_DAYS,
        "can_configure": any(user.has_perm(name) for name in stale_services.SETTINGS_PERMISSIONS),
    }
    template = "listings/stale/_rows.html" if partial else "listings/stale/queue.html"
    return render(request, template, context)


# --- re-verify one listing ---------------------------------------------------------------------


@login_required
@permission_required(CHANGE, raise_exception=True)
def listing_reverify(request, pk: int):
    listing = managed_listing(request, pk, "collector", "branch", "project", "last_verified_by")
    action = request.POST.get("action") if request.method == "POST" else None
    confirm_form = ReverifyConfirmForm(posted(request) if action == "confirm" else None, prefix="confirm")
    update_form = ReverifyUpdateForm(posted(request) if action == "update" else None, listing=listing, prefix="update")
    form = {"confirm": confirm_form, "update": update_form}.get(action)
    if form is not None and form.is_valid():
        changes = form.changes() if action == "update" else {}
        if action == "update" and not changes:
            form.add_error(None, _("Nothing was changed. Use “Confirm unchanged” if the listing is still correct."))
        else:
            try:
                reverify_service(actor=request.user, listing=listing, note=form.cleaned_data["note"], **changes)
            except PermissionDeniedError:
                raise PermissionDenied from None
            except ApplicationError as exc:
                if exc.status == 404:
                    raise Http404 from None
                if exc.status == 403:
                    raise PermissionDenied from None
                apply_error(form, exc)
            else:
                if changes:
                    messages.success(request, _("“%(title)s” was updated and re-verified.") % {"title": listing})
                else:
                    messages.success(request, _("“%(title)s” was confirmed unchanged.") % {"title": listing})
                return redirect(_next_url(request, reverse("listings:stale-queue")))
    rule = stale_services.stale_rule()
    due_at = rule.due_at(listing)
    is_active = listing.status in ACTIVE_STATUSES
    context = {
        "listing": listing,
        "confirm_form": confirm_form,
        "update_form": update_form,
        "action": action,
        "verify_days": rule.days_for(listing.branch_id),
        "due_at": due_at,
        "is_stale": is_active and due_at < rule.now,
        "days_overdue": rule.days_overdue(listing),
        "is_active": is_active,
        "is_sold": listing.status == ListingStatus.SOLD,
        "verifications": ListingVerification.objects.filter(listing=listing).select_related("verified_by")[:5],
        "next": _next_url(request, ""),
        "back_url": _next_url(request, reverse("listings:stale-queue")),
    }
    return render(request, "listings/stale/reverify.html", context)


# --- the branch's re-verification interval -----------------------------------------------------


@login_required
def listing_settings(request, branch_id: int):
    user = request.user
    if not any(user.has_perm(name) for name in stale_services.SETTINGS_PERMISSIONS):
        raise PermissionDenied
    branch = get_scoped_or_404(Branch.objects.all(), user, pk=branch_id)
    current = branch_settings_days(branch)
    form = BranchListingSettingsForm(posted(request), initial={"verify_every_days": current})
    if request.method == "POST" and form.is_valid():
        try:
            stale_services.branch_listing_settings_save(
                actor=user, branch=branch, verify_every_days=form.cleaned_data["verify_every_days"]
            )
        except PermissionDeniedError:
            raise PermissionDenied from None
        except ApplicationError as exc:
            if exc.status == 404:
                raise Http404 from None
            apply_error(form, exc)
        else:
            messages.success(request, _("The listing rules of %(branch)s were saved.") % {"branch": branch})
            return redirect("listings:listing-settings", branch_id=branch.pk)
    context = {
        "branch": branch,
        "form": form,
        "verify_days": current,
        "stale_now": stale_services.stale_count(Listing.objects.filter(branch=branch)),
        "branches": Branch.objects.visible_to(user).filter(is_active=True).order_by("path")[:50],
    }
    return render(request, "listings/stale/settings.html", context)


def branch_settings_days(branch: Branch) -> int:
    found = BranchListingSettings.objects.filter(branch=branch).values_list("verify_every_days", flat=True).first()
    return found or stale_services.DEFAULT_DAYS
