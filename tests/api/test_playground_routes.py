"""The playground's routes: the page and its files come from the package, name no other host, and stay
out of the OpenAPI document; config.json lists the voices and whether a key is needed."""

from __future__ import annotations

import re
from importlib.resources import files

import httpx

from omnivox.api.routes.playground import ASSETS
from tests.conftest import serve_fake


def test_page_and_assets_are_served_from_the_package() -> None:
    with serve_fake() as (url, _fake):
        for path in ("/", "/playground"):
            page = httpx.get(url + path)
            assert page.status_code == 200
            assert page.headers["content-type"].startswith("text/html")
            assert "default-src 'none'" in page.headers["content-security-policy"]
            for testid in ("record", "text-input", "send", "voice", "model", "transcript", "answer"):
                assert f'data-testid="{testid}"' in page.text
            assert 'data-testid="audio-level"' in page.text and 'data-testid="status"' in page.text
        for name, media_type in ASSETS.items():
            asset = httpx.get(f"{url}/playground/static/{name}")
            assert asset.status_code == 200 and asset.headers["content-type"].startswith(media_type)
        missing = httpx.get(url + "/playground/static/secret.txt")
        assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
        assert httpx.get(url + "/playground/static/..%2Fplayground.py").status_code == 404
        paths = httpx.get(url + "/openapi.json").json()["paths"]
        assert not [p for p in paths if p == "/" or p.startswith("/playground")]


def test_the_page_names_no_other_host() -> None:
    static = files("omnivox.api") / "static"
    for name in ["playground.html", *ASSETS]:
        text = (static / name).read_text()
        assert not re.findall(r"(?:https?:|wss?:)?//[a-z0-9.-]+\.[a-z]{2,}", text, flags=re.I), name


def test_config_lists_voices_and_key_requirement() -> None:
    with serve_fake() as (url, _fake):
        assert httpx.get(url + "/playground/config.json").json() == {"voices": [], "api_key_required": False}
    with serve_fake(api_keys=["sk-a"]) as (url, _fake):
        config = httpx.get(url + "/playground/config.json")
        assert config.status_code == 200 and config.json()["api_key_required"] is True
        assert httpx.get(url + "/").status_code == 200  # the page itself needs no key
        assert httpx.get(url + "/v1/models").status_code == 401
