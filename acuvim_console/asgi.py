"""ASGI entry point: HTTP through Django, websockets through Channels with the session user attached."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "acuvim_console.settings")
django_asgi_app = get_asgi_application()

from acuvim_console.operators.checks import refuse_insecure_production  # noqa: E402

refuse_insecure_production()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from acuvim_console.operators.ws_auth import BrowserOriginValidator  # noqa: E402
from acuvim_console.routing import websocket_urlpatterns  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": BrowserOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns))),
    }
)
