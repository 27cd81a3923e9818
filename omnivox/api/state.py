"""What the routes share, held on `app.state` (no module globals)."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request

from omnivox.chat.service import ChatService
from omnivox.config import Settings
from omnivox.realtime.service import RealtimeService
from omnivox.serving.catalog import ModelCatalog
from omnivox.synthesis.service import SpeechService
from omnivox.transcription.service import TranscriptionService


@dataclass(frozen=True)
class Services:
    settings: Settings
    catalog: ModelCatalog
    chat: ChatService
    transcription: TranscriptionService
    speech: SpeechService
    realtime: RealtimeService


def services(request: Request) -> Services:
    found: Services = request.app.state.services
    return found
