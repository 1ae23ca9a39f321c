"""The credits API's HTTP surface over real HTTP on SQLite and PostgreSQL: every error in
one JSON shape (malformed JSON, wrong types, unknown fields, missing or bad headers,
unknown paths and methods, oversized bodies), CORS only for the listed origins (also
beneath the CORS layer Reflex puts around the whole app), and the OpenAPI document."""

from pathlib import Path

import pytest
from reflex.app import App
from reflex.config import get_config
from sqlalchemy import func, select
from sqlmodel import col
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from credit_app.api import app_services, server
from credit_app.api.v1.body_limit import MAX_BODY_BYTES
from credit_app.db import read_scope
from credit_app.models import ApiRequest
from tests.factories import make_user
from tests.integration.api_server import serve_api

ROUTES = {
    "/balance": {"get"},
    "/spend": {"post"},
    "/holds": {"post"},
    "/holds/{hold_id}/capture": {"post"},
    "/holds/{hold_id}/release": {"post"},
    "/ledger": {"get"},
}


@pytest.fixture
def server_(database_url):
    with serve_api(database_url) as running:
        yield running


def _error(response) -> dict:
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == {"error"} and {"code", "message"} <= set(body["error"])
    return body["error"]


MALFORMED = [
    # (body bytes or JSON, headers, the param at fault)
    (b'{"amount": 5, "feature": ', {}, "body"),
    (b"[5]", {}, "body"),
    (b'{"amount": 1, "feature": "chat", "amount": 500}', {}, "body"),
    (b'{"amount": 5, "feature": "chat"}', {"Content-Type": "text/plain"}, "body"),
    ({"amount": "5", "feature": "chat"}, {}, "amount"),
    ({"amount": 5.0, "feature": "chat"}, {}, "amount"),
    ({"amount": True, "feature": "chat"}, {}, "amount"),
    ({"amount": 0, "feature": "chat"}, {}, "amount"),
    ({"amount": -5, "feature": "chat"}, {}, "amount"),
    ({"amount": 1_000_001, "feature": "chat"}, {}, "amount"),
    ({"amount": 10**40, "feature": "chat"}, {}, "amount"),
    ({"feature": "chat"}, {}, "amount"),
    ({"amount": 5, "feature": "Chat Bot"}, {}, "feature"),
    ({"amount": 5, "feature": "x" * 65}, {}, "feature"),
    ({"amount": 5, "feature": ""}, {}, "feature"),
    ({"amount": 5, "feature": "chat", "description": "a\nb"}, {}, "description"),
    ({"amount": 5, "feature": "chat", "description": "d" * 256}, {}, "description"),
    ({"amount": 5, "feature": "chat", "amuont": 50}, {}, "amuont"),
    ({"amount": 5, "feature": "chat", "user_id": "me"}, {}, "user_id"),
    ({"amount": 5, "feature": "chat"}, {"Idempotency-Key": None}, "Idempotency-Key"),
    ({"amount": 5, "feature": "chat"}, {"Idempotency-Key": "k" * 256}, "Idempotency-Key"),
    ({"amount": 5, "feature": "chat"}, {"Idempotency-Key": b"caf\xc3\xa9"}, "Idempotency-Key"),
]


def test_a_malformed_spend_is_400_naming_the_param_and_charges_nothing(server_):
    user = make_user(server_.engine, initial_credits=100)
    with server_.client(server_.issue_key(user)) as client:
        for body, headers, param in MALFORMED:
            sent = {"Idempotency-Key": "k-1", **headers}
            sent = {name: value for name, value in sent.items() if value is not None}
            if isinstance(body, bytes):
                sent.setdefault("Content-Type", "application/json")
                response = client.post("/spend", content=body, headers=sent)
            else:
                response = client.post("/spend", json=body, headers=sent)
            assert response.status_code == 400, (body, headers)
            error = _error(response)
            assert (error["code"], error["param"]) == ("invalid_request", param), (body, headers)
    assert server_.balance(user) == 100
    with read_scope(server_.engine) as session:
        assert session.scalar(select(func.count(col(ApiRequest.id)))) == 0


def test_bodies_over_the_cap_are_413_however_they_arrive(server_):
    user = make_user(server_.engine, initial_credits=100)
    headers = {"Idempotency-Key": "big", "Content-Type": "application/json"}
    with server_.client(server_.issue_key(user)) as client:
        declared = client.post("/spend", content=b" " * (MAX_BODY_BYTES + 1), headers=headers)
        assert declared.status_code == 413
        assert _error(declared)["code"] == "body_too_large"
        chunks = iter([b'{"amount": 1, "feature": "chat"', b" " * MAX_BODY_BYTES, b"}"])
        streamed = client.post("/spend", content=chunks, headers=headers)
        assert streamed.status_code == 413 and _error(streamed)["code"] == "body_too_large"
        # At the cap exactly, the body is read and used.
        body = b'{"amount": 1, "feature": "chat"}'
        padded = body[:-1] + b" " * (MAX_BODY_BYTES - len(body)) + b"}"
        assert client.post("/spend", content=padded, headers=headers).status_code == 200
    assert server_.balance(user) == 99


def test_unknown_paths_and_methods_answer_in_the_error_shape(server_):
    key = server_.issue_key(make_user(server_.engine))
    with server_.client(key) as client:
        missing = client.get("/balances")
        assert missing.status_code == 404 and _error(missing)["code"] == "not_found"
        wrong = client.delete("/balance")
        assert wrong.status_code == 405 and _error(wrong)["code"] == "method_not_allowed"
        assert wrong.headers["Allow"] == "GET"
        assert client.get("/spend").status_code == 405
    with server_.client() as anonymous:
        assert _error(anonymous.get("/no/such/thing"))["code"] == "not_found"


def _preflight(client, origin: str):
    return client.options(
        "/balance",
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "authorization",
        },
    )


def test_without_listed_origins_the_api_sends_no_cors_headers(server_):
    key = server_.issue_key(make_user(server_.engine))
    with server_.client(key) as client:
        preflight = _preflight(client, "https://shop.example")
        answer = client.get("/balance", headers={"Origin": "https://shop.example"})
    for response in (preflight, answer):
        assert not [name for name in response.headers if name.startswith("access-control-")]
    assert answer.status_code == 200


def test_listed_origins_get_cors_without_credentials_and_others_get_none(database_url):
    with serve_api(database_url, api_cors_origins="https://shop.example") as running:
        key = running.issue_key(make_user(running.engine))
        with running.client(key) as client:
            allowed = _preflight(client, "https://shop.example")
            refused = _preflight(client, "https://evil.example")
            answer = client.get("/balance", headers={"Origin": "https://shop.example"})
            other = client.get("/balance", headers={"Origin": "https://evil.example"})
    assert allowed.status_code == 200
    assert allowed.headers["Access-Control-Allow-Origin"] == "https://shop.example"
    assert "POST" in allowed.headers["Access-Control-Allow-Methods"]
    assert "authorization" in allowed.headers["Access-Control-Allow-Headers"].lower()
    assert "Access-Control-Allow-Credentials" not in allowed.headers
    assert refused.status_code == 403 and _error(refused)["code"] == "forbidden"
    assert "Access-Control-Allow-Origin" not in refused.headers
    assert answer.headers["Access-Control-Allow-Origin"] == "https://shop.example"
    assert "Retry-After" in answer.headers["Access-Control-Expose-Headers"]
    assert "Access-Control-Allow-Origin" not in other.headers


def _as_reflex_serves_it(app_settings, push):
    """The app as Reflex 0.10 serves it: server()'s guarded API around the pages (a
    stand-in for Reflex's own app), inside the outer app whose CORS Reflex adds
    (App.__call__: `App._add_cors(top_asgi_app)`), which the app replaces on import
    (credit_app.credit_app) by Reflex's policy for everything but /api/v1."""
    import credit_app.credit_app  # noqa: F401  (installs the app's App._add_cors)

    pages = Starlette(routes=[Route("/{path:path}", lambda _: PlainTextResponse("page"))])
    top = Starlette()
    top.mount("", server(Path("/nonexistent"), push_account=push)(pages))
    App._add_cors(top)
    return top


def test_under_reflexs_cors_the_api_keeps_its_own_origins(database_url, monkeypatch):
    monkeypatch.setattr(app_services, "_installed", None)  # server() installs its services
    with serve_api(
        database_url, build=_as_reflex_serves_it, api_cors_origins="https://shop.example"
    ) as running:
        # Reflex re-reads rxconfig (whose origins follow APP_URL) when the app is made.
        page_origin = get_config().cors_allowed_origins[0]
        key = running.issue_key(make_user(running.engine))
        with running.client(key) as client:
            listed = _preflight(client, "https://shop.example")
            unlisted = _preflight(client, "https://evil.example")
            answer = client.get("/balance", headers={"Origin": "https://evil.example"})
            # The app's own pages keep Reflex's policy (its origins, with credentials).
            page = client.get(running.url + "/dashboard", headers={"Origin": page_origin})
            foreign_page = client.get(
                running.url + "/dashboard", headers={"Origin": "https://shop.example"}
            )
    assert listed.status_code == 200
    assert listed.headers["Access-Control-Allow-Origin"] == "https://shop.example"
    assert "Access-Control-Allow-Credentials" not in listed.headers
    assert answer.status_code == 200
    for response in (unlisted, answer):
        assert "Access-Control-Allow-Origin" not in response.headers
    assert page.headers["Access-Control-Allow-Origin"] == page_origin
    assert page.headers["Access-Control-Allow-Credentials"] == "true"
    assert "Access-Control-Allow-Origin" not in foreign_page.headers


def test_the_openapi_document_describes_every_route(server_):
    with server_.client() as client:
        response = client.get("/openapi.json")
    assert response.status_code == 200
    document = response.json()
    assert document["openapi"].startswith("3.1")
    assert (document["info"]["title"], document["info"]["version"]) == (
        "Credit App credits API",
        "1",
    )
    assert document["servers"] == [{"url": "/api/v1"}]
    assert {path: set(ops) for path, ops in document["paths"].items()} == ROUTES
    schemes = document["components"]["securitySchemes"]
    assert [(s["type"], s["scheme"]) for s in schemes.values()] == [("http", "bearer")]
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            where = f"{method} {path}"
            assert operation["summary"] and operation["description"], where
            assert operation["security"], where
            assert "422" not in operation["responses"], where
            for status in ("400", "401", "429"):
                content = operation["responses"][status]["content"]["application/json"]
                assert content["schema"]["$ref"].endswith("/ErrorBody"), where
            if method == "post":
                assert {"402", "409"} <= set(operation["responses"]), where
    spend = document["paths"]["/spend"]["post"]
    assert spend["operationId"] == "post_spend"
    assert spend["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "/SpendRequest"
    )
    header = next(p for p in spend["parameters"] if p["name"] == "Idempotency-Key")
    assert header["in"] == "header" and header["required"]
