"""Placeholder views: replaced by the real ones."""

from django.http import HttpResponse


def app_list(request, *args, **kwargs):
    return HttpResponse("Not built yet: app_list", status=501)


def app_detail(request, *args, **kwargs):
    return HttpResponse("Not built yet: app_detail", status=501)

