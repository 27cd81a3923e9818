"""Wire types of OpenAI's Usage and Costs APIs (/v1/organization/usage/*, /v1/organization/costs): the
query parameters each accepts, and the page of time buckets each answers with."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

#: Latest time accepted (9999-12-31): keeps every computed time within SQLite's 64-bit integers.
MAX_TIME = 253_402_300_799

BucketWidth = Literal["1m", "1h", "1d"]
UsageGroup = Literal["project_id", "user_id", "api_key_id", "model"]
CompletionsGroup = Literal["project_id", "user_id", "api_key_id", "model", "batch", "service_tier"]
CostsGroup = Literal["project_id", "line_item", "api_key_id"]


class _Query(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    start_time: int = Field(ge=0, le=MAX_TIME, description="Start (Unix seconds) of the range, inclusive.")
    end_time: int | None = Field(
        None, ge=1, le=MAX_TIME, description="End (Unix seconds) of the range, exclusive; default: now."
    )
    bucket_width: BucketWidth = Field("1d", description="Width of each time bucket.")
    project_ids: list[str] | None = Field(None, description="Only these projects (omnivox has none).")
    api_key_ids: list[str] | None = Field(None, description="Only these API keys (their `key_...` ids).")
    limit: int | None = Field(
        None,
        ge=1,
        le=1440,
        description="Buckets per page: 1d up to 31 (default 7), 1h up to 168 (24), 1m up to 1440 (60).",
    )
    page: str | None = Field(None, description="The `next_page` cursor of the previous page.")


class UsageQuery(_Query):
    """GET /v1/organization/usage/audio_speeches and audio_transcriptions."""

    user_ids: list[str] | None = Field(None, description="Only these users (omnivox has none).")
    models: list[str] | None = Field(None, description="Only these models.")
    group_by: list[UsageGroup] | None = Field(None, description="Group the usage by these fields.")


class CompletionsQuery(_Query):
    """GET /v1/organization/usage/completions."""

    user_ids: list[str] | None = Field(None, description="Only these users (omnivox has none).")
    models: list[str] | None = Field(None, description="Only these models.")
    batch: bool | None = Field(None, description="Only batch jobs (true: none here) or only others (false).")
    group_by: list[CompletionsGroup] | None = Field(None, description="Group the usage by these fields.")


class CostsQuery(_Query):
    """GET /v1/organization/costs (OpenAI has only `1d` buckets; omnivox also answers 1h and 1m)."""

    limit: int | None = Field(None, ge=1, le=180, description="Buckets per page (default 7).")
    group_by: list[CostsGroup] | None = Field(None, description="Group the costs by these fields.")


class _Result(BaseModel):
    project_id: str | None = None
    api_key_id: str | None = None


class _ModelResult(_Result):
    user_id: str | None = None
    model: str | None = None


class CompletionsResult(_ModelResult):
    object: Literal["organization.usage.completions.result"] = "organization.usage.completions.result"
    input_tokens: int
    input_cached_tokens: int
    input_cache_write_tokens: int
    input_uncached_tokens: int
    output_tokens: int
    input_text_tokens: int
    output_text_tokens: int
    input_cached_text_tokens: int
    input_audio_tokens: int
    input_cached_audio_tokens: int
    output_audio_tokens: int
    input_image_tokens: int
    input_cached_image_tokens: int
    output_image_tokens: int
    num_model_requests: int
    batch: bool | None = None
    service_tier: str | None = None


class AudioSpeechesResult(_ModelResult):
    object: Literal["organization.usage.audio_speeches.result"] = "organization.usage.audio_speeches.result"
    characters: int
    num_model_requests: int


class AudioTranscriptionsResult(_ModelResult):
    object: Literal["organization.usage.audio_transcriptions.result"] = (
        "organization.usage.audio_transcriptions.result"
    )
    seconds: int
    num_model_requests: int


class CostAmount(BaseModel):
    value: float
    currency: Literal["usd"] = "usd"


class CostsResult(_Result):
    object: Literal["organization.costs.result"] = "organization.costs.result"
    amount: CostAmount
    line_item: str | None = None
    quantity: float | None = None
    quantity_unit: str | None = None


Result = CompletionsResult | AudioSpeechesResult | AudioTranscriptionsResult | CostsResult


class UsageBucket(BaseModel):
    object: Literal["bucket"] = "bucket"
    start_time: int
    end_time: int
    results: list[Result]


class UsagePage(BaseModel):
    object: Literal["page"] = "page"
    data: list[UsageBucket]
    has_more: bool
    next_page: str | None
