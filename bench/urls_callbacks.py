"""Brand-host URLs for the bench: the real ones plus a bare view that answers "success" and does nothing else."""

from django.http import HttpResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt

from ekr.urls_tenants import urlpatterns as tenant_urlpatterns


@csrf_exempt
def bare(request):
    return HttpResponse("success", content_type="text/plain; charset=utf-8")


urlpatterns = [path("bench/bare/", bare), *tenant_urlpatterns]
