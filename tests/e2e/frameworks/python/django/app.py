#!/usr/bin/env python3
"""Matrix app: a small shop API on Django + Django REST framework under
opentelemetry-instrumentation-django, spec from drf-spectacular.

One file: settings, views and URLconf. Routing uses all three Django styles: a DRF
`DefaultRouter` ViewSet (`^api/products/(?P<pk>[^/.]+)/$`, plus a detail `@action`), a `re_path`
(`^api/archive/(?P<year>[0-9]{4})/(?P<month>[0-9]{2})/$`) and path converters (`<int:id>`,
`<slug:slug>`, `<str:username>`, `<uuid:order_id>`, `<path:file_path>`). Auth is DRF's: an
authentication class for `Bearer` tokens (401 with `WWW-Authenticate`) and permission classes.
Hidden routes use drf-spectacular's `@extend_schema(exclude=True)`.

Served by Django's own threaded WSGI server (django.core.servers.basehttp.run, what `runserver`
uses, without the autoreloader) on 127.0.0.1:$PORT.

  app.py                     serve (env: PORT, OTEL_*; see ../../README.md)
  app.py --write-spec OUT    write drf-spectacular's OpenAPI document to OUT and exit
"""

from __future__ import annotations

import json
import os
import sys
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [HERE, os.path.join(HERE, "..")]

import django  # noqa: E402
from django.conf import settings  # noqa: E402

settings.configure(
    DEBUG=False,
    SECRET_KEY="matrix-app-not-a-secret",
    ALLOWED_HOSTS=["127.0.0.1", "localhost"],
    ROOT_URLCONF=__name__,
    INSTALLED_APPS=["rest_framework", "drf_spectacular"],
    MIDDLEWARE=[],  # DjangoInstrumentor inserts its own
    DATABASES={},
    USE_TZ=True,
    LOGGING={"version": 1, "disable_existing_loggers": False,
             "loggers": {"django.server": {"level": "ERROR"}, "django.request": {"level": "ERROR"}}},
    REST_FRAMEWORK={
        "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
        "DEFAULT_AUTHENTICATION_CLASSES": ["bearer_auth.BearerTokenAuthentication"],
        "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
        "UNAUTHENTICATED_USER": None,
    },
    SPECTACULAR_SETTINGS={"TITLE": "Matrix shop (Django REST framework)", "VERSION": "1.0.0"},
)
django.setup()

from django.urls import include, path, re_path  # noqa: E402
from drf_spectacular.types import OpenApiTypes  # noqa: E402
from drf_spectacular.utils import extend_schema  # noqa: E402
from rest_framework import permissions, status, viewsets  # noqa: E402
from rest_framework.exceptions import NotFound  # noqa: E402
from rest_framework.decorators import action, api_view, permission_classes  # noqa: E402
from rest_framework.response import Response  # noqa: E402
from rest_framework.routers import DefaultRouter  # noqa: E402
from rest_framework.views import APIView  # noqa: E402

import bearer_auth  # noqa: E402,F401  (registers the drf-spectacular scheme)
from matrix_tracing import MISSING_IDS  # noqa: E402


class ReportAccess(permissions.BasePermission):
    """Meant to require a login for every method; the `or` lets anonymous reads through."""

    def has_permission(self, request, view):
        return request.method in permissions.SAFE_METHODS or bool(request.user and request.user.is_authenticated)


OBJ = extend_schema(request=OpenApiTypes.OBJECT, responses=OpenApiTypes.OBJECT)


# --- router ViewSet: ^api/products/$ and ^api/products/(?P<pk>[^/.]+)/$ --------------------------
class ProductViewSet(viewsets.ViewSet):
    def get_permissions(self):
        if self.action in ("list", "retrieve"):
            return [permissions.AllowAny()]
        return [permissions.IsAuthenticated()]

    @OBJ
    def list(self, request):
        return Response([{"id": i} for i in range(1, 4)])

    @OBJ
    def create(self, request):
        return Response({"id": 99, **request.data}, status=status.HTTP_201_CREATED)

    @OBJ
    def retrieve(self, request, pk=None):
        if not pk.isdigit() or int(pk) >= MISSING_IDS:
            raise NotFound("no such product")
        return Response({"id": pk})

    @OBJ
    def update(self, request, pk=None):
        return Response({"id": pk, **request.data})

    @OBJ
    def destroy(self, request, pk=None):
        return Response(status=status.HTTP_204_NO_CONTENT)

    @OBJ
    @action(detail=True, methods=["post"])
    def reviews(self, request, pk=None):
        return Response({"product": pk, **request.data}, status=status.HTTP_201_CREATED)


# --- path converters and re_path -----------------------------------------------------------
@OBJ
@api_view(["GET"])
@permission_classes([permissions.AllowAny])
def health(request):
    return Response({"status": "ok"})


@OBJ
@api_view(["GET"])
@permission_classes([permissions.AllowAny])
def category_products(request, slug):
    return Response({"category": slug, "products": []})


@OBJ
@api_view(["GET"])
@permission_classes([permissions.AllowAny])
def promotion(request, slug):
    return Response({"slug": slug, "discount": 10})


@OBJ
@api_view(["GET"])
@permission_classes([permissions.AllowAny])
def archive(request, year, month):
    return Response({"year": year, "month": month, "orders": []})


class UserViewSet(viewsets.ViewSet):
    """^api/users/(?P<username>[^/]+)/$ and .../orders/$: usernames have dots (carol.w), so the
    lookup regex is widened from DRF's default [^/.]+ the way such projects do."""

    lookup_field = "username"
    lookup_value_regex = "[^/]+"

    def get_permissions(self):
        if self.action == "retrieve":
            return [permissions.AllowAny()]
        return [permissions.IsAuthenticated()]

    @OBJ
    def retrieve(self, request, username=None):
        return Response({"username": username})

    @OBJ
    def update(self, request, username=None):
        return Response({"username": username, **request.data})

    @OBJ
    @action(detail=True, methods=["get"])
    def orders(self, request, username=None):
        return Response({"username": username, "orders": []})


@OBJ
@api_view(["GET"])
def user_order(request, username, id):
    if id >= MISSING_IDS:
        raise NotFound("no such order")
    return Response({"username": username, "order": id})


@OBJ
@api_view(["GET"])
def me(request):
    return Response({"user": request.user.username})


@OBJ
@api_view(["POST"])
def create_order(request):
    return Response({"id": str(uuid.uuid4()), **request.data}, status=status.HTTP_201_CREATED)


class OrderDetail(APIView):
    @OBJ
    def get(self, request, order_id):
        return Response({"id": str(order_id)})

    @OBJ
    def patch(self, request, order_id):
        return Response({"id": str(order_id), **request.data})

    @OBJ
    def delete(self, request, order_id):
        return Response(status=status.HTTP_204_NO_CONTENT)


@OBJ
@api_view(["GET"])
def get_file(request, file_path):
    return Response({"path": file_path, "size": 1024})


@OBJ
@api_view(["GET"])
@permission_classes([ReportAccess])
def recommendations(request):
    return Response({"products": [1, 2, 3]})


# --- hidden: excluded from drf-spectacular's document -----------------------------------------
@extend_schema(exclude=True)
@api_view(["GET"])
@permission_classes([permissions.AllowAny])
def admin_export(request):
    return Response({"rows": 1234})


@extend_schema(exclude=True)
@api_view(["POST"])
@permission_classes([permissions.AllowAny])
def internal_reindex(request):
    return Response({"queued": True}, status=status.HTTP_202_ACCEPTED)


@extend_schema(exclude=True)
@api_view(["GET"])
@permission_classes([permissions.AllowAny])
def internal_order_raw(request, order_id):
    return Response({"id": str(order_id), "raw": "..."})


@extend_schema(exclude=True)
@api_view(["GET"])
def admin_users(request):
    return Response({"users": []})


@extend_schema(exclude=True)
@api_view(["DELETE"])
def admin_delete_user(request, username):
    return Response(status=status.HTTP_204_NO_CONTENT)


router = DefaultRouter(trailing_slash=True)
router.include_root_view = False
router.register("products", ProductViewSet, basename="product")
router.register("users", UserViewSet, basename="user")

urlpatterns = [
    path("health/", health),
    path("api/", include(router.urls)),
    path("api/categories/<slug:slug>/products/", category_products),
    path("api/promotions/<slug:slug>/", promotion),
    re_path(r"^api/archive/(?P<year>[0-9]{4})/(?P<month>[0-9]{2})/$", archive),
    path("api/users/<str:username>/orders/<int:id>/", user_order),
    path("api/me/", me),
    path("api/orders/", create_order),
    path("api/orders/<uuid:order_id>/", OrderDetail.as_view()),
    path("api/files/<path:file_path>", get_file),
    path("api/recommendations/", recommendations),
    path("admin/export/", admin_export),
    path("internal/reindex/", internal_reindex),
    path("internal/orders/<uuid:order_id>/raw/", internal_order_raw),
    path("admin/users/", admin_users),
    path("admin/users/<str:username>/", admin_delete_user),
]


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--write-spec":
        from drf_spectacular.generators import SchemaGenerator

        doc = SchemaGenerator().get_schema(request=None, public=True)
        with open(sys.argv[2], "w") as f:
            json.dump(doc, f, indent=1, default=str)
        return
    if len(sys.argv) != 1:
        raise SystemExit(__doc__)

    from django.core.servers.basehttp import WSGIServer, run
    from django.core.wsgi import get_wsgi_application
    from opentelemetry.instrumentation.django import DjangoInstrumentor

    from matrix_tracing import Terminated, exit_on_sigterm, port, setup_tracing

    provider = setup_tracing()
    # Before the WSGI handler loads MIDDLEWARE: the instrumentor inserts its middleware there.
    DjangoInstrumentor().instrument(tracer_provider=provider)
    handler = get_wsgi_application()
    exit_on_sigterm()
    try:
        run("127.0.0.1", port(), handler, threading=True, server_cls=WSGIServer)
    except Terminated:
        pass
    finally:
        provider.shutdown()


if __name__ == "__main__":
    main()
