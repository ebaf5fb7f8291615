from django.urls import path

from members.api.views import MemberSessionStartApi

urlpatterns = [
    path("mp/session", MemberSessionStartApi.as_view(), name="mp-session"),
]
