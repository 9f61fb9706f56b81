from django.http import Http404


def lockout_list(request, pk=None):  # placeholder until the admin pages land
    raise Http404


def lockout_unlock(request, pk=None):  # placeholder until the admin pages land
    raise Http404
