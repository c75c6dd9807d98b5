"""docker-compose.yml describes a valid deployment (validated by the compose tool itself)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]


def compose_command() -> list[str]:
    if shutil.which("docker") and subprocess.run(["docker", "compose", "version"],
                                                 capture_output=True).returncode == 0:
        return ["docker", "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    pytest.fail("no compose tool: install the docker compose plugin or"
                " `apt-get install -y docker-compose`", pytrace=False)


def test_compose_file_validates() -> None:
    env = dict(os.environ) | {"HUB_SECRET_KEY": "validate-only"}
    for extra in ([], ["--profile", "gpu"]):
        proc = subprocess.run([*compose_command(), "-f", str(ROOT / "docker-compose.yml"),
                               *extra, "config", "-q"], env=env, capture_output=True,
                              text=True, cwd=ROOT)
        assert proc.returncode == 0, proc.stderr


def test_compose_has_the_production_shape() -> None:
    spec = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = spec["services"]
    assert {"postgres", "redis", "minio", "api", "worker-cpu", "worker-gpu", "web"} <= set(
        services)
    gpu = services["worker-gpu"]
    assert gpu["runtime"] == "nvidia" and "gpu" in gpu["command"][3]
    devices = gpu["deploy"]["resources"]["reservations"]["devices"][0]
    assert devices["driver"] == "nvidia" and devices["capabilities"] == ["gpu"]
    assert "--beat" in services["worker-cpu"]["command"]
    # Per-client limits (sign-in throttling) need the client's address through the proxy.
    web = "\n".join(services["web"]["command"])
    assert "X-Forwarded-For $$proxy_add_x_forwarded_for" in web
    assert services["api"]["environment"]["FORWARDED_ALLOW_IPS"]
    assert services["api"]["environment"]["HUB_ENVIRONMENT"] == "production"
