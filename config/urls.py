from django.conf import settings
from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

from config import signin

admin.site.site_header = "App Connections administration"
admin.site.site_title = "App Connections"

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="connections:list", permanent=False)),
    # Ours first: the throttled reset request and the confirm step that lifts a lockout.
    path("accounts/password_reset/", signin.PasswordResetView.as_view(), name="password_reset"),
    path(
        "accounts/reset/<uidb64>/<token>/",
        signin.PasswordResetConfirmView.as_view(),
        name="password_reset_confirm",
    ),
    path("accounts/", include("django.contrib.auth.urls")),
    path("admin/", admin.site.urls),
    path("catalog/", include("connections.catalog_urls")),
    path("connections/", include("connections.urls")),
    path("api/", include("connections.api.urls")),
    path("tenants/", include("connections.tenant_urls")),
]
if settings.SANDBOX_ENABLED:
    urlpatterns.append(path("sandbox/", include("sandbox.urls")))
