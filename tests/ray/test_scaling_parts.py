"""The Ray layer's parts that need no cluster: how Ray's failures become omnivox's errors, the Serve
options made from `[ray]`, and the Serve config `omnivox ray-config` prints. Ray is imported inside the
tests, so this module is collected without the extra."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from omnivox import cli
from omnivox.config import Settings, StageSettings
from omnivox.errors import InvalidRequest, ModelFailure, ServerOverloaded

pytestmark = pytest.mark.ray


def test_ray_failures_become_omnivox_errors() -> None:
    from ray.exceptions import RayTaskError
    from ray.serve.exceptions import BackPressureError

    from omnivox.scaling.remote import raise_mapped

    refused = InvalidRequest("bad", param="temperature")
    with pytest.raises(InvalidRequest) as raised:  # the replica's own refusal, as it was raised there
        raise_mapped(RayTaskError("prompt", "traceback", refused))
    assert raised.value is refused
    with pytest.raises(ServerOverloaded):  # Serve's queue for the deployment is full: 503 at once
        raise_mapped(BackPressureError(num_queued_requests=8, max_queued_requests=8))
    with pytest.raises(ModelFailure):
        raise_mapped(RayTaskError("generate", "traceback", RuntimeError("boom")))


def test_stage_settings_become_serve_options() -> None:
    from omnivox.scaling.app import deployment_options

    fixed = deployment_options(StageSettings(replicas=3, num_cpus=2, resources={"cpu_worker": 0.01}), 30)
    assert fixed["num_replicas"] == 3 and "autoscaling_config" not in fixed
    assert fixed["ray_actor_options"] == {"num_cpus": 2, "num_gpus": 0, "resources": {"cpu_worker": 0.01}}
    assert fixed["graceful_shutdown_timeout_s"] == 30 and fixed["max_queued_requests"] == 8
    scaled = deployment_options(StageSettings(replicas=1, max_replicas=4, target_ongoing_requests=3), 5)
    autoscaling = scaled["autoscaling_config"]
    assert "num_replicas" not in scaled
    assert (autoscaling.min_replicas, autoscaling.max_replicas) == (1, 4)
    assert autoscaling.target_ongoing_requests == 3


def test_the_ingress_admits_what_the_model_deployment_can_hold() -> None:
    from omnivox.scaling.app import admission

    assert admission(Settings(max_queued_requests=8)) == 8 + 4  # 1 replica x 4 ongoing + 8 queued
    scaled = Settings(max_queued_requests=8, ray={"chat": {"replicas": 2, "max_replicas": 10}})
    assert admission(scaled) == 10 * 4 + 8
    assert admission(Settings(max_queued_requests=100)) == 100


def test_ray_config_prints_a_serve_config(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "omnivox.toml"
    config.write_text('port = 9100\n[ray]\nproxy_location = "EveryNode"\n[ray.chat]\nreplicas = 2\n')
    assert cli.main(["ray-config", "--config", str(config)]) == 0
    printed = yaml.safe_load(capsys.readouterr().out)
    assert printed["proxy_location"] == "EveryNode"
    assert printed["http_options"] == {"host": "127.0.0.1", "port": 9100}
    (app,) = printed["applications"]
    assert app["import_path"] == "omnivox.scaling.app:build"
    assert app["args"] == {"config": str(config.resolve())}
    # what Serve will call with those args builds the graph from the same file
    from omnivox.scaling.app import build

    graph = build(app["args"])
    assert type(graph).__name__ == "Application"
