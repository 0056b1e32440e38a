from django.urls import path

from . import views

app_name = "catalog"

urlpatterns = [
    path("", views.app_list, name="list"),
    path("<slug:slug>/", views.app_detail, name="app"),
]
