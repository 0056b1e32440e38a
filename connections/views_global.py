"""Placeholder views: replaced by the real ones."""

from django.http import HttpResponse


def global_detail(request, *args, **kwargs):
    return HttpResponse("Not built yet: global_detail", status=501)


def global_check(request, *args, **kwargs):
    return HttpResponse("Not built yet: global_check", status=501)

