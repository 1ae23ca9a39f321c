"""A scripted browser tab: speaks Reflex's event protocol over Socket.IO, as the page's
own script does, so tests can be a hostile client or a hundred clients at once."""

import queue
import uuid
from typing import Any

import socketio

NAMESPACE = "/_event"


class ReflexClient:
    def __init__(self, base_url: str, token: str | None = None) -> None:
        self.base_url = base_url
        self.token = token or str(uuid.uuid4())
        self.updates: queue.Queue[dict[str, Any]] = queue.Queue()
        self._sio = socketio.Client(reconnection=False)
        self._sio.on("event", self._on_update, namespace=NAMESPACE)

    def _on_update(self, update: Any) -> None:
        self.updates.put(update if isinstance(update, dict) else {"raw": update})

    def connect(self, timeout: float = 10) -> "ReflexClient":
        self._sio.connect(
            f"{self.base_url}?token={self.token}",
            socketio_path=NAMESPACE,
            namespaces=[NAMESPACE],
            transports=["websocket"],
            wait_timeout=timeout,
        )
        return self

    def close(self) -> None:
        self._sio.disconnect()

    def send(self, handler: str, payload: dict[str, Any], *, path: str = "/") -> None:
        """Call an event handler (its full dotted name) as a tab on `path` would."""
        self._sio.emit(
            "event",
            {
                "name": handler,
                "payload": payload,
                "router_data": {"pathname": path, "asPath": path},
            },
            namespace=NAMESPACE,
        )

    def until(self, field: str, value: Any, timeout: float = 30) -> list[dict[str, Any]]:
        """Every state change received until some state's `field` (as the page names it,
        e.g. "submitting_rx_state_") takes `value`. Each change is {field: value}."""
        changes = []
        while True:
            update = self.updates.get(timeout=timeout)
            for fields in (update.get("delta") or {}).values():
                changes.append(fields)
                if fields.get(field, object()) == value:
                    return changes
