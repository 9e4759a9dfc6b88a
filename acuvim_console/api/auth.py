"""Authentication endpoints: JWT login, refresh and logout, websocket tickets, the current user, registration.

Access tokens are short-lived bearer tokens; refresh tokens rotate on every use and the used one is
blacklisted, so a stolen refresh token stops working as soon as its owner refreshes, and logging out
blacklists it at once. Every token carries the user's credential generation (acuvim_console.operators.jwt), so a
password change or a deactivation revokes all of them. Failed logins count towards django-axes'
lockout per address and per username, on top of the per-address rate throttle.
"""

from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import AuthenticationFailed, Throttled
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework_simplejwt.serializers import TokenObtainPairSerializer
from rest_framework_simplejwt.views import TokenBlacklistView, TokenObtainPairView, TokenRefreshView

from acuvim_console.core.api.permissions import ADD_USER, PROTECTED
from acuvim_console.core.api.schema import BAD_REQUEST, ERROR_RESPONSES
from acuvim_console.core.api.throttling import LoginRateThrottle
from acuvim_console.operators.accounts import create_user_with_role
from acuvim_console.operators.jwt import GenerationRefreshToken
from acuvim_console.operators.roles import ROLES, role_of
from acuvim_console.operators.tickets import TICKET_SECONDS, issue_ticket


class UserSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    username = serializers.CharField(read_only=True)
    email = serializers.CharField(read_only=True, help_text="May be empty.")
    role = serializers.SerializerMethodField()

    def get_role(self, user) -> str | None:
        return role_of(user)


class MeSerializer(UserSerializer):
    permissions = serializers.SerializerMethodField()

    def get_permissions(self, user) -> list[str]:
        return sorted(user.get_all_permissions())


class LoginLockedOut(Throttled):
    default_detail = "Too many failed logins for this address or username; try again later."


class LoginSerializer(TokenObtainPairSerializer):
    token_class = GenerationRefreshToken

    def validate(self, attrs):
        tokens = super().validate(attrs)
        return {**tokens, "user": UserSerializer(self.user).data}


class LoginResponseSerializer(serializers.Serializer):
    access = serializers.CharField()
    refresh = serializers.CharField()
    user = UserSerializer()


class RefreshResponseSerializer(serializers.Serializer):
    access = serializers.CharField()
    refresh = serializers.CharField()


class LogoutSerializer(serializers.Serializer):
    refresh = serializers.CharField(help_text="The refresh token to blacklist.")


class TicketSerializer(serializers.Serializer):
    ticket = serializers.CharField(help_text="Connect with ws://host/ws/fleet/?ticket=<ticket>; it works once.")
    expires_in = serializers.IntegerField(help_text="Seconds the ticket stays valid.")


class RegisterSerializer(serializers.Serializer):
    username = serializers.CharField(max_length=150)
    password = serializers.CharField(write_only=True, max_length=128, style={"input_type": "password"})
    email = serializers.EmailField(required=False, allow_blank=True, default="")
    role = serializers.ChoiceField(choices=ROLES)

    def validate_username(self, value):
        field = get_user_model()._meta.get_field("username")
        try:
            field.run_validators(value)
        except DjangoValidationError as error:
            raise serializers.ValidationError(error.messages) from error
        if get_user_model().objects.filter(username__iexact=value).exists():
            raise serializers.ValidationError("A user with that username already exists.")
        return value

    def validate(self, attrs):
        candidate = get_user_model()(username=attrs["username"], email=attrs["email"])
        try:
            validate_password(attrs["password"], candidate)
        except DjangoValidationError as error:
            raise serializers.ValidationError({"password": error.messages}) from error
        return attrs


@extend_schema(
    tags=["auth"],
    summary="Log in: exchange a username and password for JWT access and refresh tokens",
    responses={
        200: LoginResponseSerializer,
        **BAD_REQUEST,
        401: OpenApiResponse(description="Wrong username or password"),
        429: OpenApiResponse(description="Too many attempts from this client, or this username is locked out"),
    },
    examples=[
        OpenApiExample("Credentials", value={"username": "operator", "password": "correct-horse"}, request_only=True),
        OpenApiExample(
            "Tokens",
            value={
                "access": "eyJhbGciOi...",
                "refresh": "eyJhbGciOi...",
                "user": {"id": 2, "username": "operator", "email": "", "role": "Operator"},
            },
            response_only=True,
        ),
    ],
)
class LoginView(TokenObtainPairView):
    serializer_class = LoginSerializer
    throttle_classes = [LoginRateThrottle]

    def post(self, request, *args, **kwargs):
        try:
            return super().post(request, *args, **kwargs)
        except AuthenticationFailed:
            # django-axes flags the request it refused (or whose failure reached the limit); its middleware
            # answers the admin's login form, but this view's request object is DRF's, so say it here.
            if getattr(request, "axes_locked_out", False):
                raise LoginLockedOut() from None
            raise


@extend_schema(
    tags=["auth"],
    summary="Exchange a refresh token for a new access token (and a new refresh token)",
    responses={
        200: RefreshResponseSerializer,
        **BAD_REQUEST,
        401: OpenApiResponse(description="Invalid or used refresh token"),
    },
)
class RefreshView(TokenRefreshView):
    pass


@extend_schema(
    tags=["auth"],
    summary="Log out: blacklist the refresh token so it mints no more tokens",
    request=LogoutSerializer,
    responses={
        204: OpenApiResponse(description="Blacklisted"),
        **BAD_REQUEST,
        401: OpenApiResponse(description="Invalid, expired or already blacklisted refresh token"),
    },
)
class LogoutView(TokenBlacklistView):
    def post(self, request, *args, **kwargs):
        super().post(request, *args, **kwargs)  # raises for an invalid or already blacklisted token
        return Response(status=status.HTTP_204_NO_CONTENT)


class WebsocketTicketView(APIView):
    permission_classes = PROTECTED
    required_permissions = {"POST": ()}

    @extend_schema(
        tags=["auth"],
        summary=f"A single-use ticket, valid {TICKET_SECONDS} s, for opening a websocket (?ticket=)",
        request=None,
        responses={201: TicketSerializer, **ERROR_RESPONSES},
    )
    def post(self, request):
        ticket = issue_ticket(request.user)
        return Response({"ticket": ticket, "expires_in": TICKET_SECONDS}, status=status.HTTP_201_CREATED)


class MeView(APIView):
    permission_classes = PROTECTED
    required_permissions = {"GET": ()}

    @extend_schema(
        tags=["auth"],
        summary="The logged-in user, role and permissions",
        responses={200: MeSerializer, **ERROR_RESPONSES},
    )
    def get(self, request):
        return Response(MeSerializer(request.user).data)


class RegisterView(APIView):
    permission_classes = PROTECTED
    required_permissions = {"POST": ADD_USER}

    @extend_schema(
        tags=["auth"],
        summary="Create a user with a role (Admin only)",
        request=RegisterSerializer,
        responses={201: UserSerializer, **BAD_REQUEST, **ERROR_RESPONSES},
        examples=[
            OpenApiExample(
                "New operator",
                value={"username": "field-eng-1", "password": "a-long-passphrase-1", "role": "Operator"},
                request_only=True,
            )
        ],
    )
    def post(self, request):
        form = RegisterSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        data = form.validated_data
        user = create_user_with_role(data["username"], data["password"], data["role"], email=data["email"])
        return Response(UserSerializer(user).data, status=status.HTTP_201_CREATED)
