from django.http import Http404


def user_list(request, pk=None):  # placeholder until the admin pages land
    raise Http404


def user_export(request, pk=None):  # placeholder until the admin pages land
    raise Http404


def user_create(request, pk=None):  # placeholder until the admin pages land
    raise Http404


def user_detail(request, pk=None):  # placeholder until the admin pages land
    raise Http404


def user_edit(request, pk=None):  # placeholder until the admin pages land
    raise Http404


def user_status(request, pk=None):  # placeholder until the admin pages land
    raise Http404


def user_roles(request, pk=None):  # placeholder until the admin pages land
    raise Http404


def user_password(request, pk=None):  # placeholder until the admin pages land
    raise Http404
