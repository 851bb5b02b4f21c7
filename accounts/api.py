from __future__ import annotations

from django.contrib.auth import authenticate
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, permissions
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import ApiToken
from accounts.schemas import Token, TokenRequest
from accounts.throttling import LoginThrottle
from core.payloads import NON_FIELD, BadRequest, Detail, parse


class TokenCreateApi(APIView):
    authentication_classes = []
    permission_classes = [permissions.AllowAny]
    throttle_classes = [LoginThrottle]

    @extend_schema(
        request=TokenRequest,
        responses={
            200: Token,
            400: BadRequest,
            413: Detail,
            415: Detail,
            429: Detail,
            503: Detail,
        },
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
