"""The Usage and Costs API's contract: admin keys only (401/403 otherwise), OpenAI's query parameters with
400s that name the offending one, buckets and pagination, the openai-shaped answers of every surface."""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Any

import httpx
import openai
import pytest

from omnivox.api.app import create_app
from omnivox.api.keys import label_of
from omnivox.config import LanguageModelSettings, Settings
from tests.conftest import serve_fake
from tests.support.openapi import validate
from tests.support.usage import ADMIN, page, results

KEY = "sk-ordinary-0123456789"
SURFACES = ("usage/completions", "usage/audio_speeches", "usage/audio_transcriptions", "costs")
ASK = {"model": "gpt-4o-audio-preview", "messages": [{"role": "user", "content": "hi"}], "temperature": 0}


def _minute_before() -> int:
    """A start_time that holds the next request's usage however long it takes: usage is kept per minute
    and counts from the minute's start, so a start taken after the request (now - 60) misses it once the
    request ends more than a second before the next minute and the query comes after it. The minute
    before the current one: the current minute's start is `now` itself for its first second, and a query
    without `end_time` (which is then now) must start earlier (a 400 otherwise)."""
    return (int(time.time()) // 60 - 1) * 60


def _get(url: str, surface: str, key: str | None, **params: Any) -> httpx.Response:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return httpx.get(f"{url}/v1/organization/{surface}", params=params, headers=headers, timeout=30)


def test_only_admin_keys_read_usage() -> None:
    with serve_fake(api_keys=[KEY], admin_api_keys=[ADMIN]) as (url, _):
        for surface in SURFACES:
            for key, status in ((None, 401), ("sk-unknown", 401), (KEY, 403), (ADMIN, 200)):
                response = _get(url, surface, key, start_time=0)
                assert response.status_code == status, (surface, key, response.text)
                validate(response.json(), "UsageResponse" if status == 200 else "ErrorResponse")
        forbidden = _get(url, "costs", KEY, start_time=0).json()["error"]
        assert forbidden["code"] == "insufficient_permissions"
        # an admin key is no API key
        chat = httpx.post(
            f"{url}/v1/chat/completions", json=ASK, headers={"Authorization": f"Bearer {ADMIN}"}
        )
        assert chat.status_code == 401


def test_without_admin_keys_the_api_is_closed() -> None:
    with serve_fake() as (url, _):  # no keys at all: every other route is open, this one is not
        assert httpx.post(f"{url}/v1/chat/completions", json=ASK).status_code == 200
        for surface in SURFACES:
            response = _get(url, surface, None, start_time=0)
            assert response.status_code == 403
            assert "admin_api_keys" in response.json()["error"]["message"]


def test_an_admin_key_must_not_be_an_api_key() -> None:
    settings = Settings(models=[LanguageModelSettings(id="x")], api_keys=[KEY], admin_api_keys=[KEY])
    with pytest.raises(ValueError, match="admin_api_keys"):
        create_app(settings)


@pytest.mark.parametrize(
    ("params", "param"),
    [
        ({}, "start_time"),
        ({"start_time": "yesterday"}, "start_time"),
        ({"start_time": -1}, "start_time"),
        ({"start_time": 100, "end_time": 100}, "end_time"),
        ({"start_time": 0, "bucket_width": "1w"}, "bucket_width"),
        ({"start_time": 0, "bucket_width": "1d", "limit": 32}, "limit"),
        ({"start_time": 0, "limit": 0}, "limit"),
        ({"start_time": 0, "group_by": "line_item"}, "group_by[0]"),
        ({"start_time": 0, "page": "page_nonsense"}, "page"),
        ({"start_time": 0, "end_time": 86400, "page": "page_Nw=="}, "page"),  # bucket 7 of 1
    ],
)
def test_bad_queries_are_400s_naming_the_parameter(params: dict[str, Any], param: str) -> None:
    with serve_fake(admin_api_keys=[ADMIN]) as (url, _):
        response = _get(url, "usage/completions", ADMIN, **params)
    assert response.status_code == 400, response.text
    validate(response.json(), "ErrorResponse")
    assert response.json()["error"]["param"] == param


def test_buckets_and_pages_cover_the_range() -> None:
    with serve_fake(admin_api_keys=[ADMIN]) as (url, _):
        before = int(time.time())
        assert httpx.post(f"{url}/v1/chat/completions", json=ASK).status_code == 200
        now = int(time.time())
        start = now - 150 * 60  # 150 one-minute buckets, the last one holding the request
        first = page(url, "usage/completions", start_time=start, end_time=now + 60, bucket_width="1m")
        assert len(first["data"]) == 60 and first["has_more"] is True
        starts = [b["start_time"] for b in first["data"]]
        assert starts == [start + 60 * i for i in range(60)]
        assert all(b["end_time"] == b["start_time"] + 60 for b in first["data"])
        seen = list(first["data"])
        cursor = first["next_page"]
        while cursor is not None:
            nxt = page(
                url, "usage/completions", start_time=start, end_time=now + 60, bucket_width="1m", page=cursor
            )
            seen += nxt["data"]
            cursor = nxt["next_page"]
            assert (cursor is not None) == nxt["has_more"]
    assert len(seen) == 151 and seen[-1]["end_time"] == now + 60
    assert [b["start_time"] for b in seen] == [start + 60 * i for i in range(151)]
    holding = [b for b in seen if b["results"]]
    # usage is kept per minute, in the bucket that holds the minute's start
    assert (
        len(holding) == 1 and holding[0]["start_time"] <= now and holding[0]["end_time"] > before // 60 * 60
    )
    (result,) = holding[0]["results"]
    assert result["num_model_requests"] == 1 and result["model"] is None  # not grouped: null


def test_filters_and_groups_without_projects_users_or_batches() -> None:
    with serve_fake(api_keys=[KEY], admin_api_keys=[ADMIN]) as (url, _):
        headers = {"Authorization": f"Bearer {KEY}"}
        start = _minute_before()
        assert httpx.post(f"{url}/v1/chat/completions", json=ASK, headers=headers).status_code == 200
        grouped = results(
            page(url, "usage/completions", start_time=start, group_by=["batch", "service_tier", "project_id"])
        )
        assert [(r["batch"], r["service_tier"], r["project_id"]) for r in grouped] == [
            (False, "default", None)
        ]
        for nothing in ({"project_ids": ["proj_x"]}, {"user_ids": ["user_x"]}, {"batch": "true"}):
            assert results(page(url, "usage/completions", start_time=start, **nothing)) == []
        assert results(page(url, "usage/completions", start_time=start, models=["other"])) == []
        assert results(page(url, "costs", start_time=start, api_key_ids=["key_000000000000"])) == []
        mine = results(
            page(url, "usage/completions", start_time=start, **{"models[]": "gpt-4o-audio-preview"})
        )
        assert [r["num_model_requests"] for r in mine] == [1]


@pytest.mark.sdk
def test_the_openai_sdk_reads_usage_and_costs() -> None:
    with serve_fake(api_keys=[KEY], admin_api_keys=[ADMIN]) as (url, _):
        client = openai.OpenAI(base_url=f"{url}/v1", api_key=KEY, max_retries=0)
        start = _minute_before()
        answer = client.chat.completions.create(
            model="gpt-4o-audio-preview", messages=[{"role": "user", "content": "hi"}], temperature=0
        )
        assert answer.usage is not None
        query = {"start_time": start, "group_by": ["api_key_id", "model"]}
        if hasattr(client, "admin"):  # the SDK's own admin resources (openai >= 2)
            admin = openai.OpenAI(base_url=f"{url}/v1", api_key=KEY, admin_api_key=ADMIN, max_retries=0)
            usage = admin.admin.organization.usage.completions(**query).model_dump()
            costs = admin.admin.organization.usage.costs(start_time=query["start_time"]).model_dump()
            with pytest.raises(openai.PermissionDeniedError):  # an ordinary key is no admin key
                bad = openai.OpenAI(base_url=f"{url}/v1", api_key=KEY, admin_api_key=KEY, max_retries=0)
                bad.admin.organization.usage.completions(start_time=0)
        else:  # the 1.x line has none: its generic GET, with the admin key
            admin = openai.OpenAI(base_url=f"{url}/v1", api_key=ADMIN, max_retries=0)
            usage = admin.get("/organization/usage/completions", cast_to=object, options={"params": query})
            since = {"start_time": query["start_time"]}
            costs = admin.get("/organization/costs", cast_to=object, options={"params": since})
    (result,) = [r for bucket in usage["data"] for r in bucket["results"]]
    assert result["api_key_id"] == label_of(KEY) and result["model"] == "gpt-4o-audio-preview"
    assert result["input_tokens"] == answer.usage.prompt_tokens
    assert result["output_tokens"] == answer.usage.completion_tokens
    (cost,) = [r for bucket in costs["data"] for r in bucket["results"]]
    expected = (
        answer.usage.prompt_tokens * Decimal("2.50") + answer.usage.completion_tokens * Decimal("10.00")
    ) / 1_000_000
    assert cost["amount"]["value"] == float(expected)
