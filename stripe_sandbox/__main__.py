"""Standalone sandbox server.

    python -m stripe_sandbox --port 12111 --webhook-url http://127.0.0.1:8000/stripe/webhook \
        --webhook-secret whsec_dev [--api-key sk_test_x] [--public-url URL] \
        [--retry-base-seconds 0.2] [--max-attempts 8] \
        [--allowed-return-origin http://127.0.0.1:8000 ...] [--loopback-only] \
        [--max-body-bytes 262144]

A test tool: the /_sandbox/* controls are always on, and return URLs may point anywhere
(http or https) unless --allowed-return-origin names the origins they must be on.

Served by uvicorn when it is installed, else by granian (a Reflex dependency). Always one
worker process: the sandbox keeps its state in memory.
"""

import argparse
import importlib.util
import os
import sys

from .app import create_app
from .settings import SandboxSettings
from .urls import origin

_ENV = "STRIPE_SANDBOX_"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m stripe_sandbox", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=12111)
    parser.add_argument("--webhook-url", default=None, help="where events are POSTed")
    parser.add_argument("--webhook-secret", required=True, help="whsec_... signing secret")
    parser.add_argument("--api-key", default=None, help="require exactly this key")
    parser.add_argument("--public-url", default=None, help="browser-facing base URL")
    parser.add_argument("--retry-base-seconds", type=float, default=1.0)
    parser.add_argument("--max-attempts", type=int, default=8)
    parser.add_argument(
        "--allowed-return-origin",
        action="append",
        default=[],
        metavar="ORIGIN",
        type=_origin,
        help="success/cancel/return URLs must be on this origin (repeatable)",
    )
    parser.add_argument(
        "--loopback-only", action="store_true", help="answer only Host: localhost/127.x/[::1]"
    )
    parser.add_argument("--max-body-bytes", type=int, default=SandboxSettings.max_body_bytes)
    parser.add_argument(
        "--business-name",
        default=SandboxSettings.business_name,
        help="merchant name shown on hosted pages and invoices",
    )
    return parser


def _origin(value: str) -> str:
    if origin(value) is None:
        raise argparse.ArgumentTypeError(f"not an http(s) origin: {value!r}")
    return value


def settings_from_env() -> SandboxSettings:
    env = os.environ
    return SandboxSettings(
        api_key=env.get(_ENV + "API_KEY") or None,
        webhook_secret=env[_ENV + "WEBHOOK_SECRET"],
        public_url=env[_ENV + "PUBLIC_URL"],
        webhook_url=env.get(_ENV + "WEBHOOK_URL") or None,
        retry_base_seconds=float(env.get(_ENV + "RETRY_BASE_SECONDS", "1.0")),
        max_attempts=int(env.get(_ENV + "MAX_ATTEMPTS", "8")),
        # Space-separated: an origin contains no spaces.
        allowed_return_origins=tuple(env.get(_ENV + "ALLOWED_RETURN_ORIGINS", "").split()),
        loopback_only=env.get(_ENV + "LOOPBACK_ONLY") == "1",
        max_body_bytes=int(env.get(_ENV + "MAX_BODY_BYTES", SandboxSettings.max_body_bytes)),
        business_name=env.get(_ENV + "BUSINESS_NAME") or SandboxSettings.business_name,
    )


def app_from_env():
    """Factory for servers that import the app in a worker process (granian)."""
    return create_app(settings_from_env())


def main(argv: list[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    if not args.webhook_secret.startswith("whsec_"):
        sys.exit("--webhook-secret must start with whsec_")
    public_url = args.public_url or f"http://{args.host}:{args.port}"
    # Settings travel through the environment so worker processes rebuild the same app.
    os.environ.update(
        {
            _ENV + "WEBHOOK_SECRET": args.webhook_secret,
            _ENV + "PUBLIC_URL": public_url,
            _ENV + "WEBHOOK_URL": args.webhook_url or "",
            _ENV + "API_KEY": args.api_key or "",
            _ENV + "RETRY_BASE_SECONDS": str(args.retry_base_seconds),
            _ENV + "MAX_ATTEMPTS": str(args.max_attempts),
            _ENV + "ALLOWED_RETURN_ORIGINS": " ".join(args.allowed_return_origin),
            _ENV + "LOOPBACK_ONLY": "1" if args.loopback_only else "",
            _ENV + "MAX_BODY_BYTES": str(args.max_body_bytes),
            _ENV + "BUSINESS_NAME": args.business_name,
        }
    )
    print(f"Stripe sandbox on {public_url} (webhooks → {args.webhook_url})", flush=True)
    if importlib.util.find_spec("uvicorn") is not None:
        import uvicorn

        uvicorn.run(app_from_env(), host=args.host, port=args.port, log_level="warning")
        return
    from granian import Granian
    from granian.constants import Interfaces

    Granian(
        "stripe_sandbox.__main__:app_from_env",
        address=args.host,
        port=args.port,
        interface=Interfaces.ASGI,
        workers=1,
        factory=True,
        log_access=False,
    ).serve()


if __name__ == "__main__":
    main()
