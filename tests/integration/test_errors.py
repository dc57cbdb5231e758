"""Bad input gets an OpenAI error body with the right status, never a traceback."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import openai
import pytest

from appliance.version import version
from tests.conftest import ServerFactory
from tests.serving import Server, sdk


def assert_error(response: httpx.Response, status: int, param: str | None = None) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}
    error = body["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert isinstance(error["message"], str) and error["message"]
    assert "Traceback" not in response.text
    if param is not None:
        assert error["param"] == param
    return error


@pytest.fixture(scope="module")
def http(local_server: Server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=local_server.url, timeout=30) as client:
        yield client


CHAT = "/v1/chat/completions"


def test_malformed_json_is_400(http: httpx.Client) -> None:
    error = assert_error(http.post(CHAT, content=b"{not json"), 400)
    assert error["type"] == "invalid_request_error"


def test_invalid_utf8_is_400(http: httpx.Client) -> None:
    assert_error(http.post(CHAT, content=b'{"messages": "\xff\xfe"}'), 400)


def test_missing_messages_is_400(http: httpx.Client) -> None:
    error = assert_error(http.post(CHAT, json={"model": "auto"}), 400)
    assert "messages" in error["message"]


def test_empty_messages_is_400(http: httpx.Client) -> None:
    assert_error(http.post(CHAT, json={"model": "auto", "messages": []}), 400, "messages")


def test_bad_role_is_400_naming_the_field(http: httpx.Client) -> None:
    body = {"messages": [{"role": "wizard", "content": "hi"}]}
    assert_error(http.post(CHAT, json=body), 400, "messages[0].role")


def test_bad_type_is_400_naming_the_field(http: httpx.Client) -> None:
    body = {"messages": [{"role": "user", "content": "hi"}], "max_tokens": "many"}
    assert_error(http.post(CHAT, json=body), 400, "max_tokens")


def test_out_of_range_values_are_400(http: httpx.Client) -> None:
    msgs = [{"role": "user", "content": "hi"}]
    assert_error(http.post(CHAT, json={"messages": msgs, "temperature": 9}), 400, "temperature")
    assert_error(http.post(CHAT, json={"messages": msgs, "n": 1000}), 400, "n")
    assert_error(http.post(CHAT, json={"messages": msgs, "max_tokens": 0}), 400, "max_tokens")


def test_body_that_is_not_an_object_is_400(http: httpx.Client) -> None:
    assert_error(http.post(CHAT, json=[1, 2, 3]), 400)


def test_unknown_model_is_404(http: httpx.Client) -> None:
    body = {"model": "gpt-9", "messages": [{"role": "user", "content": "hi"}]}
    error = assert_error(http.post(CHAT, json=body), 404, "model")
    assert error["code"] == "model_not_found"


def test_body_too_large_is_413(server_factory: ServerFactory) -> None:
    server = server_factory({"server": {"max_body_bytes": 2048}})
    big = {"messages": [{"role": "user", "content": "x" * 5000}]}
    assert_error(httpx.post(server.url + CHAT, json=big, timeout=10), 413)


def test_unknown_endpoint_is_404_with_openai_body(http: httpx.Client) -> None:
    assert_error(http.get("/v1/nope"), 404)


def test_wrong_method_is_405(http: httpx.Client) -> None:
    assert_error(http.get(CHAT), 405)


def test_no_available_tier_is_503_and_names_no_secret(server_factory: ServerFactory) -> None:
    tiers = [
        {
            "name": "frontier",
            "backend": "openai",
            "base_url": "http://127.0.0.1:9/v1",
            "model": "gpt-4o",
            "api_key_env": "APPLIANCE_TEST_MISSING_KEY",
        }
    ]
    server = server_factory({"tiers": tiers}, wait_ready=False)
    for _ in range(200):
        ready = httpx.get(server.url + "/readyz", timeout=5)
        if ready.json()["status"] not in ("starting", "loading encoder", "loading models"):
            break
        time.sleep(0.05)
    assert ready.status_code == 503
    assert "APPLIANCE_TEST_MISSING_KEY" in ready.json()["tiers"]["frontier"]
    client = sdk(server.base_url, "x")
    with pytest.raises(openai.APIStatusError) as info:
        client.chat.completions.create(model="auto", messages=[{"role": "user", "content": "hi"}])
    assert info.value.status_code == 503
    assert "missing" in server.log().lower() or "not set" in server.log()


def test_healthz_answers(http: httpx.Client) -> None:
    assert http.get("/healthz").json() == {"status": "ok", "version": version()}
    assert http.get("/readyz").status_code == 200
