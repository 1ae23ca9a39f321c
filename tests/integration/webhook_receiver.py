"""A real HTTP(S) server on 127.0.0.1 that webhook deliveries are sent to in the tests: it
records every request whole and answers what the test tells it to."""

import http.server
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass, field


class _Server(http.server.ThreadingHTTPServer):
    # Deliveries arrive up to 10 at a time per deliverer: the default backlog of 5 would
    # refuse some connections.
    request_queue_size = 128
    daemon_threads = True


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


# (status, extra headers) for a request.
Responder = Callable[[Received], tuple[int, dict[str, str]]]


def always_ok(_request: Received) -> tuple[int, dict[str, str]]:
    return 200, {}


@dataclass
class Receiver:
    respond: Responder = always_ok
    tls: ssl.SSLContext | None = None
    requests: list[Received] = field(default_factory=list)

    def __post_init__(self) -> None:
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                request = Received(
                    path=self.path,
                    headers={name: value for name, value in self.headers.items()},
                    body=self.rfile.read(length),
                )
                with receiver._lock:
                    receiver.requests.append(request)
                status, headers = receiver.respond(request)
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                answer = b"ok" if status < 300 else b"nope"
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *_args) -> None:  # quiet
                pass

        self._lock = threading.Lock()
        self._server = _Server(("127.0.0.1", 0), Handler)
        if self.tls is not None:
            self._server.socket = self.tls.wrap_socket(self._server.socket, server_side=True)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def url(self, path: str = "/hook", *, host: str = "127.0.0.1") -> str:
        scheme = "https" if self.tls is not None else "http"
        return f"{scheme}://{host}:{self.port}{path}"

    def __enter__(self) -> "Receiver":
        self._thread.start()
        return self

    def __exit__(self, *_exc) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
