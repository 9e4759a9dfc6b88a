"""Shared pieces of the OpenAPI description: the error shapes every endpoint can answer with."""

from drf_spectacular.contrib.rest_framework_simplejwt import SimpleJWTScheme
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, inline_serializer
from rest_framework import serializers

DetailSerializer = inline_serializer("Detail", {"detail": serializers.CharField()})

# What any protected endpoint may answer besides its success.
ERROR_RESPONSES = {
    401: OpenApiResponse(DetailSerializer, description="No valid access token"),
    403: OpenApiResponse(DetailSerializer, description="The user's role does not allow this"),
}
NOT_FOUND = {404: OpenApiResponse(DetailSerializer, description="No such object")}
BAD_REQUEST = {
    400: OpenApiResponse(
        OpenApiTypes.OBJECT,
        description="Invalid body or query parameters: {field: [messages]} (or {detail: message})",
    )
}


class RevocableJWTScheme(SimpleJWTScheme):
    """Documents acuvim_console.operators.jwt's authentication as the JWT bearer scheme it is."""

    target_class = "acuvim_console.operators.jwt.RevocableJWTAuthentication"
