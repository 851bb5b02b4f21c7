from __future__ import annotations

from django.contrib.auth import authenticate
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, permissions
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle
from rest_framework.views import APIView

from accounts.models import ApiToken
from accounts.schemas import Token, TokenRequest
from core.payloads import NON_FIELD, parse


class TokenCreateApi(APIView):
    authentication_classes = []
    permission_classes = [permissions.AllowAny]
    # Password guessing: a few tries a minute per client address.
    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "login"

    @extend_schema(
        request=TokenRequest,
        responses={200: Token},
        summary="Exchange username and password for a Bearer token",
        auth=[],
    )
    def post(self, request: Request) -> Response:
        credentials = parse(TokenRequest, request.data)
        user = authenticate(request, username=credentials.username, password=credentials.password)
        if user is None or not user.is_active:
            raise exceptions.ValidationError(
                {NON_FIELD: ["Unable to log in with the provided credentials."]}
            )
        return Response(Token(token=ApiToken.issue(user)).model_dump())
