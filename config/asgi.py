"""One ASGI application for HTTP and WebSockets: the hot path first, then Django."""

from __future__ import annotations

import os

import django
from channels.routing import ProtocolTypeRouter

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

# Load Django (apps, settings) before importing anything that uses models.
django.setup(set_prefix=False)

import logging  # noqa: E402

from django.conf import settings  # noqa: E402
from django.core.handlers.asgi import ASGIHandler  # noqa: E402

from config.fastpath import with_fast_path  # noqa: E402
from config.guard import ASGIApp, with_request_limits  # noqa: E402
from core.memory import freeze_loaded  # noqa: E402
from ops.logging import RedactTokens  # noqa: E402
from sync.routing import websocket_application  # noqa: E402

# The server logs every socket's path with its query string, where a browser's token is.
for name in ("uvicorn.error", "uvicorn.access"):
    logging.getLogger(name).addFilter(RedactTokens())


def build(*, fast_path: bool) -> ASGIApp:
    """Every request within its limits; then HTTP to the fast path (if on) and Django,
    WebSockets to the sync consumer."""
    # A handler of its own: its middleware reads the settings as they are now.
    django_app = ASGIHandler()
    http = with_fast_path(django_app) if fast_path else django_app
    return with_request_limits(
        ProtocolTypeRouter({"http": http, "websocket": websocket_application}),
        max_header_bytes=settings.PLAYSTATE_MAX_HEADER_BYTES,
        max_body_bytes=settings.PLAYSTATE_MAX_BODY_BYTES,
    )


application = build(fast_path=settings.PLAYSTATE_FAST_PATH)
freeze_loaded(collect=True)  # Django, the apps and their modules: for the process's life
