from django.urls import path

from . import views, views_global, views_publication, views_ui

app_name = "connections"

urlpatterns = [
    path("", views.connection_list, name="list"),
    path("new/", views.connection_new, name="new"),
    path("new/<slug:slug>/", views.connection_create, name="create"),
    path("callback/<slug:slug>/", views.oauth_callback, name="callback"),
    path("attempts/<uuid:pk>/", views.attempt_detail, name="attempt"),
    path("attempts/<uuid:pk>/confirm/", views.attempt_confirm, name="attempt_confirm"),
    path("<uuid:pk>/", views.connection_detail, name="detail"),
    path("<uuid:pk>/check/", views.connection_check, name="check"),
    path("<uuid:pk>/live/", views_ui.connection_live, name="live"),
    path("<uuid:pk>/reauthorize/", views.connection_reauthorize, name="reauthorize"),
    path("<uuid:pk>/rename/", views.connection_rename, name="rename"),
    path("<uuid:pk>/revoke/", views.connection_revoke, name="revoke"),
    path("<uuid:pk>/publication/", views_publication.publication_request, name="publication_request"),
    path("publication/<int:pk>/withdraw/", views_publication.publication_withdraw, name="publication_withdraw"),
    path("global/<uuid:pk>/", views_global.global_detail, name="global_detail"),
    path("global/<uuid:pk>/check/", views_global.global_check, name="global_check"),
    path("global/<uuid:pk>/live/", views_ui.global_live, name="global_live"),
    path("preferences/theme/", views_ui.theme_set, name="theme"),
]
