from django.urls import path

from .views import attempts, catalog, connections, global_connections, publication, ui

app_name = "connections"

urlpatterns = [
    path("", connections.connection_list, name="list"),
    path("new/", catalog.connection_new, name="new"),
    path("new/<slug:slug>/", attempts.connection_create, name="create"),
    path("callback/<slug:slug>/", attempts.oauth_callback, name="callback"),
    path("attempts/<uuid:pk>/", attempts.attempt_detail, name="attempt"),
    path("attempts/<uuid:pk>/confirm/", attempts.attempt_confirm, name="attempt_confirm"),
    path("<uuid:pk>/", connections.connection_detail, name="detail"),
    path("<uuid:pk>/check/", connections.connection_check, name="check"),
    path("<uuid:pk>/live/", ui.connection_live, name="live"),
    path("<uuid:pk>/reauthorize/", attempts.connection_reauthorize, name="reauthorize"),
    path("<uuid:pk>/rename/", connections.connection_rename, name="rename"),
    path("<uuid:pk>/revoke/", connections.connection_revoke, name="revoke"),
    path("<uuid:pk>/remove/", connections.connection_remove, name="remove"),
    path("<uuid:pk>/publication/", publication.publication_request, name="publication_request"),
    path("publication/<int:pk>/withdraw/", publication.publication_withdraw, name="publication_withdraw"),
    path("global/<uuid:pk>/", global_connections.global_detail, name="global_detail"),
    path("global/<uuid:pk>/check/", global_connections.global_check, name="global_check"),
    path("global/<uuid:pk>/live/", ui.global_live, name="global_live"),
    path("preferences/theme/", ui.theme_set, name="theme"),
]
