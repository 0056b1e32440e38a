"""Placeholder views: replaced by the real ones."""

from django.http import HttpResponse


def connection_list(request, *args, **kwargs):
    return HttpResponse("Not built yet: connection_list", status=501)


def connection_new(request, *args, **kwargs):
    return HttpResponse("Not built yet: connection_new", status=501)


def connection_create(request, *args, **kwargs):
    return HttpResponse("Not built yet: connection_create", status=501)


def oauth_callback(request, *args, **kwargs):
    return HttpResponse("Not built yet: oauth_callback", status=501)


def attempt_detail(request, *args, **kwargs):
    return HttpResponse("Not built yet: attempt_detail", status=501)


def attempt_confirm(request, *args, **kwargs):
    return HttpResponse("Not built yet: attempt_confirm", status=501)


def connection_detail(request, *args, **kwargs):
    return HttpResponse("Not built yet: connection_detail", status=501)


def connection_check(request, *args, **kwargs):
    return HttpResponse("Not built yet: connection_check", status=501)


def connection_reauthorize(request, *args, **kwargs):
    return HttpResponse("Not built yet: connection_reauthorize", status=501)


def connection_rename(request, *args, **kwargs):
    return HttpResponse("Not built yet: connection_rename", status=501)


def connection_revoke(request, *args, **kwargs):
    return HttpResponse("Not built yet: connection_revoke", status=501)

