"""DRF bearer-token authentication of the Django matrix app, and its drf-spectacular scheme.

A module of its own because DRF resolves DEFAULT_AUTHENTICATION_CLASSES when
`rest_framework.views` is first imported, before app.py's own classes exist.
"""

from __future__ import annotations

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication

from matrix_tracing import VALID_TOKEN_PREFIX


class TokenUser:
    is_authenticated = True

    def __init__(self, name: str):
        self.username = name


class BearerTokenAuthentication(BaseAuthentication):
    """`Authorization: Bearer valid-…`; a wrong token is a 401, no token leaves the user anonymous
    (the permission classes then answer 401, since `authenticate_header` names a scheme)."""

    def authenticate(self, request):
        header = request.META.get("HTTP_AUTHORIZATION", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token:
            return None
        if not token.startswith(VALID_TOKEN_PREFIX):
            raise exceptions.AuthenticationFailed("invalid token")
        return TokenUser(token.removeprefix(VALID_TOKEN_PREFIX)), token

    def authenticate_header(self, request):
        return 'Bearer realm="api"'


class BearerTokenScheme(OpenApiAuthenticationExtension):
    target_class = "bearer_auth.BearerTokenAuthentication"
    name = "bearerAuth"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer"}
