"""Platform ops API (public host)."""

from django.urls import path

from tenants.api.views import BrandListApi

urlpatterns = [
    path("brands", BrandListApi.as_view(), name="ops-brands"),
]
