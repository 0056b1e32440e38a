from django.urls import path

from . import api

app_name = "api"

urlpatterns = [
    path("connections", api.connections_collection, name="connections"),
    path("connections/<uuid:pk>", api.connection_item, name="connection"),
    path("connections/<uuid:pk>/test", api.attempt_test, name="attempt_test"),
    path("connections/<uuid:pk>/check", api.connection_check, name="connection_check"),
    path("connections/<uuid:pk>/credentials", api.connection_credentials, name="connection_credentials"),
]
