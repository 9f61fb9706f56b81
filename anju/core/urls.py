from django.urls import path

from .views import audit, home

urlpatterns = [
    path("", home.home, name="home"),
    path("audit/", audit.audit_list, name="audit-list"),
    path("audit/export.csv", audit.audit_export, name="audit-export"),
]
