"""Body caps on every route that reads a body, and caps on delivery faults."""

import threading
import time
from collections.abc import Iterator

import httpx
import pytest

from .conftest import API_KEY, Env, sandbox_with

ONE_MIB = 1024 * 1024
FORM = {"content-type": "application/x-www-form-urlencoded"}


def _chunked(body: bytes) -> Iterator[bytes]:
    """No Content-Length: the cap must hold while the body streams in."""
    for start in range(0, len(body), 64 * 1024):
        yield body[start : start + 64 * 1024]


@pytest.mark.parametrize("streamed", [False, True], ids=["content-length", "chunked"])
def test_a_mebibyte_post_to_a_hosted_page_is_refused_at_once(env: Env, streamed: bool) -> None:
    body = b"a[]=1&" * (ONE_MIB // 6)
    started = time.perf_counter()
    response = httpx.post(
        env.url + "/checkout/cs_test_anything",
        content=_chunked(body) if streamed else body,
        headers=FORM,
    )
    elapsed = time.perf_counter() - started
    assert response.status_code == 413, response.text
    assert response.headers["content-type"].startswith("text/html")
    assert "too large" in response.text
    assert elapsed < 1.0, f"{elapsed:.2f}s"
    assert env.client.v1.customers.create(params={"email": "after@x.io"}).email == "after@x.io"


def test_other_requests_are_answered_while_a_large_body_arrives(env: Env) -> None:
    first_sent, resume = threading.Event(), threading.Event()

    def stalling_body() -> Iterator[bytes]:
        yield b"a[]=1&" * 10_000  # 60 KiB, under the cap: the server waits for more
        first_sent.set()  # httpx asks for the next chunk once the first is written
        resume.wait(10)
        yield b"a[]=1&" * (ONE_MIB // 6)

    result: list[httpx.Response] = []
    sender = threading.Thread(
        target=lambda: result.append(
            httpx.post(env.url + "/checkout/cs_test_x", content=stalling_body(), headers=FORM)
        )
    )
    sender.start()
    try:
        assert first_sent.wait(10)
        started = time.perf_counter()
        assert env.client.v1.customers.create(params={"email": "b@x.io"}).email == "b@x.io"
        assert time.perf_counter() - started < 1.0
    finally:
        resume.set()
        sender.join(10)
    assert result[0].status_code == 413


def test_the_quadratic_decoder_payload_is_answered_at_once(env: Env) -> None:
    """Issue 7's 93 KiB `a[]=1&…` body blocked the server for 5.6 s."""
    started = time.perf_counter()
    response = httpx.post(
        env.url + "/checkout/cs_test_anything", content=b"a[]=1&" * (93 * 1024 // 6), headers=FORM
    )
    assert time.perf_counter() - started < 1.0
    assert response.status_code == 400
    assert "could not be read" in response.text and "a[]" not in response.text


def test_api_and_control_bodies_are_capped_exactly() -> None:
    limit = 1000
    with sandbox_with(api_key=API_KEY, max_body_bytes=limit) as url:
        auth = {"authorization": f"Bearer {API_KEY}", **FORM}

        def create(size: int) -> httpx.Response:
            prefix = b"email=a@x.io&name="
            body = prefix + b"n" * (size - len(prefix))
            return httpx.post(url + "/v1/customers", content=body, headers=auth)

        assert create(limit).status_code == 200
        refused = create(limit + 1)
        assert refused.status_code == 413
        assert refused.json()["error"]["type"] == "invalid_request_error"
        streamed = httpx.post(
            url + "/v1/customers", content=_chunked(b"name=" + b"n" * limit), headers=auth
        )
        assert streamed.status_code == 413
        listed = httpx.get(url + "/v1/customers", headers=auth).json()["data"]
        assert len(listed) == 1

        control = httpx.post(
            url + "/_sandbox/faults",
            content=b'{"duplicate": 2' + b" " * limit + b"}",
            headers={"authorization": f"Bearer {API_KEY}", "content-type": "application/json"},
        )
        assert control.status_code == 413 and "too large" in control.json()["error"]["message"]
        faults = httpx.get(url + "/_sandbox/faults", headers=auth).json()
        assert faults["duplicate"] == 1


def test_a_portal_form_body_is_capped() -> None:
    with sandbox_with(max_body_bytes=100) as url:
        response = httpx.post(url + "/portal/bps_x/card", content=b"cardnumber=" + b"4" * 100)
        assert response.status_code == 413 and "too large" in response.text


@pytest.mark.parametrize(
    "faults",
    [
        {"duplicate": 0},
        {"duplicate": 11},
        {"duplicate": True},
        {"duplicate": "3"},
        {"delay_ms": -1},
        {"delay_ms": 10_001},
        {"delay_ms": 10**400},
        {"delay_ms": 1.5},
    ],
)
def test_faults_out_of_bounds_are_refused(env: Env, faults: dict) -> None:
    response = httpx.post(env.url + "/_sandbox/faults", json=faults)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["type"] == "invalid_request_error"
    assert httpx.get(env.url + "/_sandbox/faults").json() == env.control.clear_faults()


def test_faults_at_their_bounds_are_accepted(env: Env) -> None:
    assert env.control.set_faults(duplicate=10, delay_ms=10_000)["duplicate"] == 10
    env.control.clear_faults()
