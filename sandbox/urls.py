from django.urls import path
from django.http import HttpResponse

app_name = "sandbox"

urlpatterns = [path("", lambda request: HttpResponse("Sandbox not built yet", status=501), name="home")]
