"""`omnivox serve`: run the server. Flags override the config file and the environment.
`omnivox serve --ray ADDRESS`: the same server as a Ray Serve application on a cluster (docs/scaling.md).
`omnivox ray-config`: the Serve config for `serve deploy` (YAML on stdout).
`omnivox usage`: what each API key used, per day and model, and what it costs (docs/usage.md).

SIGTERM (or Ctrl-C) shuts down gracefully: no new connections, running requests get
`shutdown_grace_seconds` to finish, then are cancelled; the process exits 0."""

from __future__ import annotations

import argparse
import contextlib
import faulthandler
import io
import logging
import signal
import sys
from pathlib import Path

import uvicorn
from pydantic import ValidationError

from omnivox.api.app import create_app
from omnivox.api.keys import AdminKeys, ApiKeys
from omnivox.client import chat as chat_client
from omnivox.config import Settings, load_settings
from omnivox.errors import ModelLoadError
from omnivox.logs import configure_logging
from omnivox.serving.catalog import ModelCatalog
from omnivox.serving.selfcheck import check_catalog, probe_all
from omnivox.usage.table import PERIODS, show_usage

_LOOPBACK = ("127.0.0.1", "::1", "localhost")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="omnivox", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="serve the OpenAI-compatible API")
    serve.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="TCP port (default 8000)")
    serve.add_argument("--config", type=Path, help="TOML settings file (see docs/configuration.md)")
    serve.add_argument(
        "--model",
        dest="model_path",
        type=Path,
        help="serve this GGUF file as the default chat model instead of the embedded one",
    )
    serve.add_argument(
        "--ray",
        metavar="ADDRESS",
        help="deploy on the Ray cluster at ADDRESS (e.g. 10.0.0.1:6379, or auto) as Ray Serve deployments "
        "(needs the `ray` extra; docs/scaling.md)",
    )
    ray_config = commands.add_parser("ray-config", help="print the Ray Serve config for `serve deploy`")
    ray_config.add_argument("--config", type=Path, help="TOML settings file, read on every node")
    usage = commands.add_parser("usage", help="print what each API key used, per period and model")
    usage.add_argument("--config", type=Path, help="TOML settings file (where the usage store is, prices)")
    usage.add_argument("--days", type=int, default=7, help="UTC days to show, today included (default 7)")
    usage.add_argument(
        "--by", choices=sorted(PERIODS), default="day", help="period of each row (default day)"
    )
    chat_client.add_arguments(commands.add_parser("chat", help="talk to an omnivox server from the terminal"))
    return parser


def _report_native_crashes() -> None:
    """faulthandler: a native crash still leaves the Python stack on stderr, beside the log (unless
    stderr is no file, as when main() runs inside a test that captures it)."""
    if not faulthandler.is_enabled():
        with contextlib.suppress(io.UnsupportedOperation, ValueError):
            faulthandler.enable()


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "usage":
        return show_usage(args.config, days=args.days, period=args.by)
    if args.command == "chat":
        return chat_client.run(args)
    if args.command == "ray-config":
        return _ray_config(args.config)
    overrides: dict[str, object] = {
        k: v for k, v in (("host", args.host), ("port", args.port)) if v is not None
    }
    if args.model_path is not None:
        overrides["models"] = [{"id": args.model_path.stem, "source": str(args.model_path)}]
    try:
        settings = load_settings(args.config, **overrides)
    except (ValidationError, OSError, ValueError) as exc:
        print(f"omnivox: invalid settings: {exc}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level)
    _report_native_crashes()
    log = logging.getLogger("omnivox")
    try:  # read the keys before the (long) model load: a bad keys file fails at once
        keys = ApiKeys.from_settings(settings)
        admin_keys = AdminKeys.from_settings(settings, keys)
    except (OSError, ValueError) as exc:
        print(f"omnivox: invalid API keys: {exc}", file=sys.stderr)
        return 2
    if not (settings.api_keys or settings.api_keys_file) and settings.host not in _LOOPBACK:
        log.warning("listening on %s with no API keys: anyone who can reach it may use it", settings.host)
    if args.ray is not None:
        return _serve_on_ray(settings, args.ray)
    try:  # load and run each model before listening: one that cannot stops the server with its reason
        if settings.self_check:
            probe_all(settings.models)
        catalog = ModelCatalog.load(settings)
    except ModelLoadError as exc:
        print(f"omnivox: cannot load models: {exc}", file=sys.stderr)
        return 1
    try:
        if settings.self_check:
            check_catalog(catalog)
    except ModelLoadError as exc:
        catalog.close()
        print(f"omnivox: cannot run models: {exc}", file=sys.stderr)
        return 1
    # uvicorn shuts down gracefully on SIGTERM, then re-raises the signal for the handler that was there
    # before it: this one, so that a requested shutdown exits 0 instead of dying by the signal.
    signal.signal(signal.SIGTERM, lambda _signum, _frame: None)
    try:
        uvicorn.run(
            create_app(settings, catalog, keys=keys, admin_keys=admin_keys),
            host=settings.host,
            port=settings.port,
            log_level=settings.log_level,
            log_config=None,  # keep ours: every line with its request id
            access_log=False,  # omnivox.access writes one line per request, with its id
            timeout_graceful_shutdown=settings.shutdown_grace_seconds,
        )
    finally:
        catalog.close()
    return 0


def _serve_on_ray(settings: Settings, address: str) -> int:
    try:
        from omnivox.scaling import app as ray_app
    except ImportError as exc:
        print(f"omnivox: --ray needs the `ray` extra (pip install 'omnivox[ray]'): {exc}", file=sys.stderr)
        return 2
    return ray_app.run(settings, address)


def _ray_config(config: Path | None) -> int:
    try:
        settings = load_settings(config)
        import yaml  # type: ignore[import-untyped]  # Ray's dependency, no stubs

        from omnivox.scaling import app as ray_app
    except (ValidationError, OSError, ValueError) as exc:
        print(f"omnivox: invalid settings: {exc}", file=sys.stderr)
        return 2
    except ImportError as exc:
        print(
            f"omnivox: ray-config needs the `ray` extra (pip install 'omnivox[ray]'): {exc}", file=sys.stderr
        )
        return 2
    print(yaml.safe_dump(ray_app.serve_config(settings, config), sort_keys=False), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
