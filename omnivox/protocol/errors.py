"""The wire type of every error omnivox sends (omnivox.errors.OmnivoxError.to_body), for the OpenAPI
document: OpenAI's ErrorResponse."""

from __future__ import annotations

from pydantic import BaseModel


class ErrorDetail(BaseModel):
    message: str
    type: str
    param: str | None
    code: str | None


class ErrorResponse(BaseModel):
    error: ErrorDetail
