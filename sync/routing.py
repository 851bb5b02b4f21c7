"""WebSocket routes. Cross-device push (`/ws/v1/sync`, contract section 6) lands with its own
issue; until then every WebSocket is refused."""

from __future__ import annotations

from channels.routing import URLRouter

websocket_application = URLRouter([])
