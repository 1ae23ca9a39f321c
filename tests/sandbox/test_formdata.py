"""The form decoder: Stripe's bracket semantics, linear time, and its caps."""

import time

import pytest

from stripe_sandbox import SandboxSettings, formdata
from stripe_sandbox.errors import StripeError
from stripe_sandbox.formdata import MAX_DEPTH, MAX_KEY_LENGTH, MAX_LIST_INDEX, MAX_PARAMS, decode

ONE_MIB = 1024 * 1024


def _refused(raw: str | bytes) -> StripeError:
    with pytest.raises(StripeError) as caught:
        decode(raw)
    assert caught.value.status == 400
    assert caught.value.body()["error"]["type"] == "invalid_request_error"
    return caught.value


def test_bracket_notation_decodes_to_dicts_and_lists() -> None:
    raw = (
        "mode=subscription&line_items[0][price]=price_1&line_items[0][quantity]=2"
        "&metadata[user]=7&expand[]=a&expand[]=b&sparse[7]=x&empty="
    )
    assert decode(raw) == {
        "mode": "subscription",
        "line_items": [{"price": "price_1", "quantity": "2"}],
        "metadata": {"user": "7"},
        "expand": ["a", "b"],
        "sparse": ["x"],
        "empty": "",
    }
    assert decode(b"email=j%C3%B6@x.io") == {"email": "jö@x.io"}
    # A unicode digit is a key, not a list index.
    assert decode("a[\u00b2]=x") == {"a": {"\u00b2": "x"}}


def test_appends_take_linear_time_even_without_the_parameter_cap(monkeypatch) -> None:
    """A body-cap-sized (256 KiB) run of `a[]=1&` took about a minute when each append
    counted the keys so far (93 KiB: 7.8 s); linear decoding takes about 0.25 s."""
    size = SandboxSettings.max_body_bytes
    monkeypatch.setattr(formdata, "MAX_PARAMS", size)
    raw = "&".join(["a[]=1"] * (size // 6))
    started = time.perf_counter()
    decoded = decode(raw)
    elapsed = time.perf_counter() - started
    assert len(decoded["a"]) == size // 6
    assert elapsed < 1.0, f"{elapsed:.2f}s"


def test_a_mebibyte_of_appends_is_refused_at_once() -> None:
    raw = "&".join(["a[]=1"] * (ONE_MIB // 6))
    started = time.perf_counter()
    error = _refused(raw)
    assert time.perf_counter() - started < 1.0
    assert "Too many parameters" in error.message


def test_parameter_count_cap() -> None:
    assert len(decode("&".join(["a[]=1"] * MAX_PARAMS))["a"]) == MAX_PARAMS
    _refused("&".join(["a[]=1"] * (MAX_PARAMS + 1)))


def test_key_length_cap() -> None:
    assert decode("k" * MAX_KEY_LENGTH + "=v")
    error = _refused("k" * (MAX_KEY_LENGTH + 1) + "=v")
    assert len(error.param) == MAX_KEY_LENGTH
    # A 5,000-digit index is refused by length before anything parses it as a number.
    _refused("a[" + "9" * 5000 + "]=1")


def test_nesting_depth_cap() -> None:
    deepest = "a" + "[b]" * MAX_DEPTH + "=1"
    node = decode(deepest)["a"]
    for _ in range(MAX_DEPTH - 1):
        node = node["b"]
    assert node == {"b": "1"}
    assert _refused("a" + "[b]" * (MAX_DEPTH + 1) + "=1").param.startswith("a[b]")


def test_list_index_cap() -> None:
    assert decode(f"a[{MAX_LIST_INDEX}]=x") == {"a": ["x"]}
    _refused(f"a[{MAX_LIST_INDEX + 1}]=x")
    _refused("a[99999999]=x")


def test_malformed_input_is_a_400_not_a_crash() -> None:
    _refused("a[b=1")
    _refused("[x]=1")
    _refused(b"email=\xff\xfe")
