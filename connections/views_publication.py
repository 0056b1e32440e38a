"""Placeholder views: replaced by the real ones."""

from django.http import HttpResponse


def publication_request(request, *args, **kwargs):
    return HttpResponse("Not built yet: publication_request", status=501)


def publication_withdraw(request, *args, **kwargs):
    return HttpResponse("Not built yet: publication_withdraw", status=501)

