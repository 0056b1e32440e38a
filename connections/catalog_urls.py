"""The catalog's pages (/catalog/), served by connections: they show the company's connections."""

from django.urls import path

from .views import catalog

app_name = "catalog"

urlpatterns = [
    path("", catalog.app_list, name="list"),
    path("<slug:slug>/", catalog.app_detail, name="app"),
]
