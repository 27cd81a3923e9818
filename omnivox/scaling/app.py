"""omnivox as a Ray Serve application (docs/scaling.md): the ingress is the same FastAPI app as the single
process, its catalog made of remote runtimes (omnivox.scaling.remote); each language model, each
recogniser and each voice family is a deployment of its stage (omnivox.scaling.stages), with replicas,
placement and autoscaling from `[ray]`.

- `omnivox serve --ray ADDRESS`: `run` connects, deploys, and on SIGTERM deletes the application (running
  requests get `shutdown_grace_seconds` to finish) and exits 0.
- `omnivox ray-config`: `serve_config` writes the Serve config for `serve deploy`, whose import path is
  `build` (args: `config`, the TOML file on every node).
"""

from __future__ import annotations

import logging
import re
import signal
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any, cast

from fastapi import FastAPI
from ray import serve
from ray.serve.config import AutoscalingConfig
from ray.serve.deployment import Application, Deployment
from ray.serve.handle import DeploymentHandle

from omnivox.api.app import create_app
from omnivox.config import ModelSettings, Settings, SpeechModelSettings, StageSettings, VoiceSettings
from omnivox.config import load_settings as _load_settings
from omnivox.runtimes.synthesis import VoiceInfo
from omnivox.runtimes.worker import ModelWorker
from omnivox.scaling.remote import RemoteChatModel, RemoteRecognizer, RemoteSynthesizer
from omnivox.scaling.stages import ChatStage, SpeechStage, VoiceStage
from omnivox.serving.catalog import Loaders, ModelCatalog

IMPORT_PATH = "omnivox.scaling.app:build"


class Ingress:
    """The HTTP ingress: `create_app` over a catalog whose runtimes are the stages' deployments. Serve
    builds its ASGI app late (`__serve_build_asgi_app__`), after this asynchronous constructor has asked
    every stage what it serves."""

    async def __init__(  # type: ignore[misc]  # Serve awaits an ingress's async constructor
        self,
        settings: Settings,
        chat: Mapping[str, DeploymentHandle[Any]],
        speech: Mapping[str, DeploymentHandle[Any]],
        voices: Mapping[str, DeploymentHandle[Any]],
    ) -> None:
        chat_info = {name: await handle.info.remote() for name, handle in chat.items()}
        speech_info = {name: await handle.info.remote() for name, handle in speech.items()}
        voice_info: dict[str, dict[str, VoiceInfo]] = {
            family: await handle.info.remote() for family, handle in voices.items()
        }

        admitted = admission(settings)

        def chat_model(entry: ModelSettings, _worker: ModelWorker) -> RemoteChatModel:
            # its own admission, sized to the deployment (the catalog's, sized for one process, unused)
            return RemoteChatModel(chat[entry.id], chat_info[entry.id], ModelWorker(entry.id, admitted))

        def recognizer(entry: SpeechModelSettings, _cache: Path) -> RemoteRecognizer:
            return RemoteRecognizer(speech[entry.id], speech_info[entry.id])

        def voice(entry: VoiceSettings) -> RemoteSynthesizer:
            return RemoteSynthesizer(voices[entry.backend], entry.id, voice_info[entry.backend][entry.id])

        def worker(name: str, max_pending: int, _threads: int) -> ModelWorker:
            return ModelWorker(name, max_pending, threads=max_pending)  # blocking calls to a deployment

        self._catalog = ModelCatalog.load(settings, Loaders(chat_model, recognizer, voice, worker))
        self._app = create_app(settings, self._catalog)

    def __serve_build_asgi_app__(self) -> FastAPI:
        return self._app


def admission(settings: Settings) -> int:
    """Requests one ingress replica admits per language model: `max_queued_requests`, or what the
    model's deployment can hold at its most replicas (serving + queued), when that is more."""
    chat = settings.ray.chat
    most = max(chat.replicas, chat.max_replicas or 0)
    return max(settings.max_queued_requests, most * chat.max_ongoing_requests + chat.max_queued_requests)


def _name(kind: str, name: str) -> str:
    return f"{kind}-{re.sub(r'[^A-Za-z0-9_.-]', '_', name)}"


def deployment_options(stage: StageSettings, grace_s: float) -> dict[str, Any]:
    """A stage's settings as Serve deployment options."""
    actor: dict[str, Any] = {"num_cpus": stage.num_cpus, "num_gpus": stage.num_gpus}
    if stage.resources:
        actor["resources"] = dict(stage.resources)
    options: dict[str, Any] = {
        "ray_actor_options": actor,
        "max_ongoing_requests": stage.max_ongoing_requests,
        "max_queued_requests": stage.max_queued_requests,
        "graceful_shutdown_timeout_s": grace_s,
    }
    if stage.max_replicas is not None and stage.max_replicas > stage.replicas:
        options["autoscaling_config"] = AutoscalingConfig(
            min_replicas=stage.replicas,
            max_replicas=stage.max_replicas,
            target_ongoing_requests=stage.target_ongoing_requests,
        )
    else:
        options["num_replicas"] = stage.replicas
    return options


def build_app(settings: Settings, loaders: Loaders | None = None) -> Application:
    """The application graph: the stages' deployments bound into the ingress. `loaders`: how a replica
    loads its engine (default: the registry; tests pass fakes)."""
    ray = settings.ray
    grace = float(settings.shutdown_grace_seconds)
    chat = {
        m.id: _deployment(ChatStage, _name("chat", m.id), ray.chat, grace).bind(settings, m.id, loaders)
        for m in settings.models
    }
    speech = {
        m.id: _deployment(SpeechStage, _name("speech", m.id), ray.speech, grace).bind(settings, m.id, loaders)
        for m in settings.speech_models
    }
    voices = {
        family: _deployment(VoiceStage, _name("voices", family), ray.voices, grace).bind(
            settings, family, loaders
        )
        for family in sorted({v.backend for v in settings.synthesis.voices})
    }
    ingress = _deployment(serve.ingress()(Ingress), "ingress", ray.ingress, grace)
    return ingress.bind(settings, chat, speech, voices)


def _deployment(cls: type, name: str, stage: StageSettings, grace_s: float) -> Deployment:
    deployment = cast(Deployment, serve.deployment(cls))
    return deployment.options(name=name, **deployment_options(stage, grace_s))


def build(args: Mapping[str, Any]) -> Application:
    """The import path of a Serve config (`serve deploy`): `args.config` names the TOML settings file."""
    config = args.get("config")
    return build_app(_load_settings(Path(config) if config else None))


def serve_config(settings: Settings, config: Path | None) -> dict[str, Any]:
    """A Serve config for `serve deploy` (its YAML), equivalent to `omnivox serve --ray`."""
    return {
        "proxy_location": settings.ray.proxy_location,
        "http_options": {"host": settings.host, "port": settings.port},
        "applications": [
            {
                "name": settings.ray.app_name,
                "route_prefix": "/",
                "import_path": IMPORT_PATH,
                "args": {"config": str(config.resolve())} if config else {},
            }
        ],
    }


def connect(address: str) -> None:
    """Join the cluster at `address` as a driver."""
    import ray

    ray.init(address=address, logging_level=logging.WARNING, log_to_driver=False)


def start(settings: Settings, loaders: Loaders | None = None) -> None:
    """Start Serve's proxy on `host`:`port` (if Serve is not running yet), deploy, and wait until the
    application runs (`loaders`: as in build_app)."""
    serve.start(
        proxy_location=settings.ray.proxy_location,
        http_options={"host": settings.host, "port": settings.port},
    )
    serve.run(build_app(settings, loaders), name=settings.ray.app_name, route_prefix="/", blocking=False)


def deploy(settings: Settings, address: str, loaders: Loaders | None = None) -> None:
    """Connect to the cluster at `address` and start the application on it."""
    connect(address)
    start(settings, loaders)


def run(settings: Settings, address: str) -> int:
    """`omnivox serve --ray ADDRESS`: deploy, serve until SIGTERM or Ctrl-C, then delete the application
    (Serve lets running requests finish within `shutdown_grace_seconds`) and disconnect."""
    import ray

    stop = threading.Event()
    connect(address)
    for signum in (signal.SIGTERM, signal.SIGINT):  # after ray.init, which installs its own
        signal.signal(signum, lambda _signum, _frame: stop.set())
    try:
        start(settings)
        stop.wait()
    finally:
        serve.delete(settings.ray.app_name)
        ray.shutdown()
    return 0
