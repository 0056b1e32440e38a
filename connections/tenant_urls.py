from django.urls import path

from .views import tenant, tenant_clients

app_name = "tenants"

urlpatterns = [
    path("switch/", tenant.tenant_switch, name="switch"),
    path("members/", tenant.member_list, name="members"),
    path("tokens/", tenant.token_list, name="tokens"),
    path("tokens/<int:pk>/revoke/", tenant.token_revoke, name="token_revoke"),
    path("settings/", tenant.tenant_settings, name="settings"),
    path("oauth-clients/<slug:slug>/", tenant_clients.oauth_client_settings, name="oauth_client"),
    path("oauth-clients/<int:pk>/remove/", tenant_clients.oauth_client_remove, name="oauth_client_remove"),
]
