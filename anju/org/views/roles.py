from django.http import Http404


def role_list(request, pk=None):  # placeholder until the admin pages land
    raise Http404


def role_create(request, pk=None):  # placeholder until the admin pages land
    raise Http404


def role_edit(request, pk=None):  # placeholder until the admin pages land
    raise Http404
