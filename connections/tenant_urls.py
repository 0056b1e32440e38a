from django.urls import path

from .views import tenant as views_tenant

app_name = "tenants"

urlpatterns = [
    path("switch/", views_tenant.tenant_switch, name="switch"),
    path("members/", views_tenant.member_list, name="members"),
    path("tokens/", views_tenant.token_list, name="tokens"),
    path("tokens/<int:pk>/revoke/", views_tenant.token_revoke, name="token_revoke"),
    path("settings/", views_tenant.tenant_settings, name="settings"),
]
