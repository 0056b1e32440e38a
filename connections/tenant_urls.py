from django.urls import path

from .views import tenant

app_name = "tenants"

urlpatterns = [
    path("switch/", tenant.tenant_switch, name="switch"),
    path("members/", tenant.member_list, name="members"),
    path("tokens/", tenant.token_list, name="tokens"),
    path("tokens/<int:pk>/revoke/", tenant.token_revoke, name="token_revoke"),
    path("settings/", tenant.tenant_settings, name="settings"),
]
