"""Placeholder views: replaced by the real ones."""

from django.http import HttpResponse


def connections_collection(request, *args, **kwargs):
    return HttpResponse("Not built yet: connections_collection", status=501)


def connection_item(request, *args, **kwargs):
    return HttpResponse("Not built yet: connection_item", status=501)


def attempt_test(request, *args, **kwargs):
    return HttpResponse("Not built yet: attempt_test", status=501)


def connection_check(request, *args, **kwargs):
    return HttpResponse("Not built yet: connection_check", status=501)


def connection_credentials(request, *args, **kwargs):
    return HttpResponse("Not built yet: connection_credentials", status=501)

