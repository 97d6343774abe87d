"""POST /api/token/: a token for username + password — throttled per client and locked out like the login page."""

from __future__ import annotations

from axes.helpers import get_lockout_message
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.authtoken.models import Token
from rest_framework.authtoken.serializers import AuthTokenSerializer
from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle


class TokenView(ObtainAuthToken):
    """DRF's obtain_auth_token, plus the ``login`` throttle and django-axes' lockout answer (429).

    The password check goes through ``django.contrib.auth.authenticate`` with the request, so django-axes counts
    failures here together with /login/ and /admin/login/ and refuses a locked-out user even with the right
    password until the cool-off has passed.
    """

    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "login"

    @extend_schema(request=AuthTokenSerializer, responses={200: dict, 400: dict, 429: dict})
    def post(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        if not serializer.is_valid():
            if getattr(request, "axes_locked_out", False):  # set by django-axes on this (DRF) request
                return Response({"detail": str(get_lockout_message())}, status=status.HTTP_429_TOO_MANY_REQUESTS)
            raise ValidationError(serializer.errors)
        token, _ = Token.objects.get_or_create(user=serializer.validated_data["user"])
        return Response({"token": token.key})


token_view = TokenView.as_view()
