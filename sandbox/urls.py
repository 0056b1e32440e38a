from django.urls import path

from . import views

app_name = "sandbox"

urlpatterns = [
    path("", views.home, name="home"),
    path("api-keys", views.api_key_create, name="api-key-create"),
    path("switches", views.switches_view, name="switches"),
    path("oauth2/authorize", views.oauth2_authorize, name="oauth2-authorize"),
    path("oauth2/token", views.oauth2_token, name="oauth2-token"),
    path("oauth2/revoke", views.oauth2_revoke, name="oauth2-revoke"),
    path("oauth1/request_token", views.oauth1_request_token, name="oauth1-request-token"),
    path("oauth1/authorize", views.oauth1_authorize, name="oauth1-authorize"),
    path("oauth1/access_token", views.oauth1_access_token, name="oauth1-access-token"),
    path("api/me", views.api_me, name="api-me"),
    path("api/echo", views.api_echo, name="api-echo"),
    path("api/echo/<path:rest>", views.api_echo, name="api-echo-path"),
]
