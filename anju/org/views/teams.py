from django.http import Http404


def team_list(request, pk=None):  # placeholder until the admin pages land
    raise Http404


def team_export(request, pk=None):  # placeholder until the admin pages land
    raise Http404


def team_create(request, pk=None):  # placeholder until the admin pages land
    raise Http404


def team_detail(request, pk=None):  # placeholder until the admin pages land
    raise Http404


def team_edit(request, pk=None):  # placeholder until the admin pages land
    raise Http404
