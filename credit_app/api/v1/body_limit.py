"""A cap on request bodies in front of the credits API: a body over MAX_BODY_BYTES is
answered 413 body_too_large before anything parses it, whether its Content-Length says so
or it streams in chunks (chunked transfer has no Content-Length).

Bodies under the cap are read whole here and handed on as one message: the API's bodies
are a few hundred bytes, and reading them first means no JSON parser ever sees more."""

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from credit_app.api.v1.errors import BODY_TOO_LARGE, error_content, send
from credit_app.credits_api.requests import Answer

MAX_BODY_BYTES = 16 * 1024


class BodyLimit:
    def __init__(self, app: ASGIApp, *, max_bytes: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send_: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send_)
            return
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(scope, receive, send_)
            return
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return  # the client left: nobody to answer
            body.extend(message.get("body", b""))
            if len(body) > self.max_bytes:
                await self._refuse(scope, receive, send_)
                return
            if not message.get("more_body", False):
                break
        whole = bytes(body)
        handed = False

        async def replay() -> Message:
            nonlocal handed
            if not handed:
                handed = True
                return {"type": "http.request", "body": whole, "more_body": False}
            return await receive()  # after the body: the disconnect, when it comes

        await self.app(scope, replay, send_)

    async def _refuse(self, scope: Scope, receive: Receive, send_: Send) -> None:
        message = f"The body is over {self.max_bytes // 1024} KiB."
        response = send(Answer.of(413, error_content(BODY_TOO_LARGE, message)))
        # The rest of the body is left unread: the server closes the connection.
        response.headers["Connection"] = "close"
        await response(scope, receive, send_)
