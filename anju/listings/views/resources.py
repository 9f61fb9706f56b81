"""The company resources library (R1.1.2): list by project and kind, upload, audited download, retire.

Files are never served from a public URL: the download view checks the viewer's roles, writes
the audit event and streams the file with its original (possibly Chinese) name.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.db.models import F
from django.http import FileResponse, Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.cache import patch_vary_headers
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from anju.core.errors import ApplicationError
from anju.core.forms import apply_error
from anju.core.http import page_of, posted, wants_partial

from ..forms.resources import ResourceFilterForm, ResourceUploadForm
from ..models import Resource
from ..services import resources as services

VIEW = services.VIEW
MANAGE = services.MANAGE


def _resource(request, pk: int) -> Resource:
    found = services.resources_for(request.user).select_related("project").filter(pk=pk).first()
    if found is None:
        raise Http404
    return found


@login_required
@permission_required(VIEW, raise_exception=True)
def resource_list(request):
    form = ResourceFilterForm(request.GET or None, viewer=request.user)
    queryset = services.resource_filters(services.resources_for(request.user), **form.selector_filters())
    queryset = (
        queryset.select_related("project", "uploaded_by")
        .prefetch_related("roles")
        .order_by(F("project__name").asc(nulls_first=True), "project_id", "kind", "title", "pk")
    )
    context = {"form": form, "page_obj": page_of(request, queryset)}
    template = "listings/resources/_rows.html" if wants_partial(request) else "listings/resources/list.html"
    response = render(request, template, context)
    patch_vary_headers(response, ["HX-Request"])
    return response


@login_required
@permission_required(MANAGE, raise_exception=True)
def resource_upload(request):
    form = ResourceUploadForm(posted(request), request.FILES or None, viewer=request.user)
    if request.method == "POST" and form.is_valid():
        try:
            resource = services.resource_upload(actor=request.user, **form.service_kwargs())
        except ApplicationError as exc:
            apply_error(form, exc)
        else:
            messages.success(request, _("“%(title)s” was added to the library.") % {"title": resource.title})
            return redirect("listings:resource-list")
    return render(request, "listings/resources/upload.html", {"form": form})


@login_required
@permission_required(VIEW, raise_exception=True)
def resource_download(request, pk: int):
    resource = _resource(request, pk)
    try:
        handle = services.resource_download(actor=request.user, resource=resource)
    except ApplicationError as exc:
        if exc.status == 404:
            raise Http404 from None
        raise
    # FileResponse writes RFC 5987 ``filename*=utf-8''…`` for non-ASCII (Chinese) names.
    response = FileResponse(
        handle,
        as_attachment=True,
        filename=resource.original_name,
        content_type=services.content_type_for(resource.original_name),
    )
    response["Cache-Control"] = "private, no-store"
    return response


@login_required
@permission_required(MANAGE, raise_exception=True)
@require_POST
def resource_retire(request, pk: int):
    resource = _resource(request, pk)
    try:
        services.resource_retire(actor=request.user, resource=resource, reason=request.POST.get("reason", ""))
    except ApplicationError as exc:
        messages.error(request, str(exc.message))
    else:
        messages.success(request, _("“%(title)s” was retired from the library.") % {"title": resource.title})
    return redirect(reverse("listings:resource-list"))
