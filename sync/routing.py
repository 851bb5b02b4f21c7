from __future__ import annotations

from channels.routing import URLRouter
from django.urls import path

from sync.consumers import SyncConsumer

websocket_application = URLRouter([path("ws/v1/sync", SyncConsumer.as_asgi())])
