"""Placeholder views: replaced by the real ones."""

from django.http import HttpResponse


def tenant_switch(request, *args, **kwargs):
    return HttpResponse("Not built yet: tenant_switch", status=501)


def member_list(request, *args, **kwargs):
    return HttpResponse("Not built yet: member_list", status=501)


def token_list(request, *args, **kwargs):
    return HttpResponse("Not built yet: token_list", status=501)


def token_revoke(request, *args, **kwargs):
    return HttpResponse("Not built yet: token_revoke", status=501)


def tenant_settings(request, *args, **kwargs):
    return HttpResponse("Not built yet: tenant_settings", status=501)

