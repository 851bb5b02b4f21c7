"""One ASGI application for HTTP and WebSockets: the hot path first, then Django."""

from __future__ import annotations

import os

from channels.routing import ProtocolTypeRouter
from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

# Load Django (apps, settings) before importing anything that uses models.
django_asgi_app = get_asgi_application()

import logging  # noqa: E402

from django.conf import settings  # noqa: E402

from config.fastpath import with_fast_path  # noqa: E402
from ops.logging import RedactTokens  # noqa: E402
from sync.routing import websocket_application  # noqa: E402

# The server logs every socket's path with its query string, where a browser's token is.
for name in ("uvicorn.error", "uvicorn.access"):
    logging.getLogger(name).addFilter(RedactTokens())

application = ProtocolTypeRouter(
    {
        "http": with_fast_path(django_asgi_app)
        if settings.PLAYSTATE_FAST_PATH
        else django_asgi_app,
        "websocket": websocket_application,
    }
)
