"""The catalog's pages (/catalog/), served by connections: they show the company's connections."""

from django.urls import path

from .views import catalog

app_name = "catalog"

urlpatterns = [
    path("", catalog.app_list, name="list"),
    path("setup-requests/<int:pk>/dismiss/", catalog.setup_request_dismiss_view, name="setup_request_dismiss"),
    path("<slug:slug>/", catalog.app_detail, name="app"),
    path("<slug:slug>/ask-setup/", catalog.app_ask_setup, name="ask_setup"),
]
