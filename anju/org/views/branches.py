from django.http import Http404


def branch_list(request, pk=None):  # placeholder until the admin pages land
    raise Http404


def branch_create(request, pk=None):  # placeholder until the admin pages land
    raise Http404


def branch_edit(request, pk=None):  # placeholder until the admin pages land
    raise Http404
