"""URLs of /api/: ninja's routes, every answer in the error shape (405 and unknown paths too)."""

from functools import wraps

from django.http import Http404, HttpResponseNotAllowed
from django.urls import re_path
from django.views.decorators.debug import sensitive_variables

from . import api
from .errors import method_not_allowed, not_found

# Names that hold a raw token, a request body or credentials in ninja's frames and ours: hidden
# from the locals of error reports for everything called below the API's views.
SENSITIVE_LOCALS = (
    "values",
    "data",
    "payload",
    "auth_value",
    "token",
    "raw",
    "header",
    "parts",
    "result",
    "credentials",
    "field_values",
    "secret_values",
    "fields",
    "body",
    "kw",
)


def _json_errors(view):
    """Wrap a ninja view: a 405 or a 404 raised outside an operation answers in the error shape."""

    @sensitive_variables(*SENSITIVE_LOCALS)
    @wraps(view)
    def wrapper(request, *args, **kwargs):
        try:
            response = view(request, *args, **kwargs)
        except Http404 as exc:
            return not_found(request, exc)
        if isinstance(response, HttpResponseNotAllowed):
            return method_not_allowed(response)
        return response

    wrapper.csrf_exempt = True  # the API's auth checks CSRF for sessions itself
    return wrapper


def _patterns():
    patterns, _app, _namespace = api.urls
    for pattern in patterns:
        pattern.callback = _json_errors(pattern.callback)
    return patterns


app_name = "api"
urlpatterns = [
    *_patterns(),
    re_path(r"^.*$", _json_errors(not_found), name="not_found"),
]
