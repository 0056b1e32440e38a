"""The JSON API on django-ninja: `api` (routers, auth, error shape), mounted at /api/ by urls.py.

Routers per area: `endpoints.router` at /connections, `proxy.router` (the credential proxy,
/proxy/<id>/<path>, scope `proxy`, tokens only) at /proxy; each inherits the body parser and
the error shape.
OpenAPI 3 is served at /api/openapi.json and Swagger UI at /api/docs, from ninja's own static
files (`ninja` is in INSTALLED_APPS, so its templates load nothing from a CDN).
"""

from datetime import datetime

from ninja import NinjaAPI, Swagger
from ninja.renderers import JSONRenderer
from ninja.responses import NinjaJSONEncoder

from . import endpoints, proxy
from .auth import DEFAULT_AUTH
from .errors import install_error_handlers
from .parser import BodyParser


class Encoder(NinjaJSONEncoder):
    """Datetimes as full ISO 8601 (what the API always sent), not Django's millisecond form."""

    def default(self, o):
        if isinstance(o, datetime):
            return o.isoformat()
        return super().default(o)


class Renderer(JSONRenderer):
    encoder_class = Encoder


class Api(NinjaAPI):
    def get_openapi_operation_id(self, operation) -> str:
        """Name operations by their view ("connection_list"), not by module path."""
        return operation.view_func.__name__.removesuffix("_endpoint")


api = Api(
    title="App Connections API",
    version="1",
    description=(
        "Connections of your company for flows and scripts. Authenticate with "
        "`Authorization: Bearer <API token>` (each endpoint names the token scope it needs) or, "
        "in the browser, with your session (unsafe methods need the X-CSRFToken header). "
        'Errors are `{"error": {"code", "message"}}` with the HTTP status.'
    ),
    urls_namespace="api",
    auth=DEFAULT_AUTH,  # on the API, not a router: Swagger UI then sends the CSRF header
    # validatorUrl: Swagger UI would otherwise load a badge from validator.swagger.io.
    docs=Swagger(settings={"validatorUrl": None, "persistAuthorization": False}),
    parser=BodyParser(),
    renderer=Renderer(),
)
install_error_handlers(api)
api.add_router("/connections", endpoints.router)
api.add_router("/proxy", proxy.router)
