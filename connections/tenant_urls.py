from django.urls import path

from .views import alert_settings, members, tenant, tenant_clients

app_name = "tenants"

urlpatterns = [
    path("switch/", tenant.tenant_switch, name="switch"),
    path("members/", members.member_list, name="members"),
    path("members/<int:pk>/role/", members.member_role, name="member_role"),
    path("members/<int:pk>/remove/", members.member_remove_view, name="member_remove"),
    path("invitations/<int:pk>/cancel/", members.invitation_cancel_view, name="invitation_cancel"),
    path("invitations/accept/<str:token>/", members.invitation_accept_view, name="invitation_accept"),
    path("tokens/", tenant.token_list, name="tokens"),
    path("tokens/<int:pk>/revoke/", tenant.token_revoke, name="token_revoke"),
    path("settings/", tenant.tenant_settings, name="settings"),
    path("settings/alerts/", alert_settings.alert_recipients_save, name="alert_recipients"),
    path("oauth-clients/<slug:slug>/", tenant_clients.oauth_client_settings, name="oauth_client"),
    path("oauth-clients/<int:pk>/remove/", tenant_clients.oauth_client_remove, name="oauth_client_remove"),
]
