"""The Dockerfiles, parsed: multi-stage, non-root, and alike but for the service they build."""

import json
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
APPS = {"gateway": 8080, "booking": 8081, "availability": 8082, "waitlist": 8083, "notifier": 8084, "console": 8085}
SERVICE_DOCKERFILES = {name: REPO / "services" / name / "Dockerfile" for name in APPS}
MIGRATE_DOCKERFILE = REPO / "deploy" / "docker" / "migrate.Dockerfile"
ALL_DOCKERFILES = [*SERVICE_DOCKERFILES.values(), MIGRATE_DOCKERFILE]
DOCKERFILE_IDS = [str(path.relative_to(REPO)) for path in ALL_DOCKERFILES]
ROOT_USERS = {"root", "0", "root:root", "0:0"}


@dataclass(frozen=True)
class Instruction:
    keyword: str
    arguments: str


def parse(path: Path) -> list[Instruction]:
    """Instructions in order, continuation lines joined, comments and blank lines dropped."""
    instructions: list[Instruction] = []
    pending = ""
    for line in path.read_text().splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        pending += " " + stripped.removesuffix("\\").strip()
        if not stripped.endswith("\\"):
            keyword, _, arguments = pending.strip().partition(" ")
            instructions.append(Instruction(keyword.upper(), arguments.strip()))
            pending = ""
    return instructions


def stages(path: Path) -> list[list[Instruction]]:
    """The instructions of each stage, each list opening with its FROM."""
    result: list[list[Instruction]] = []
    for instruction in parse(path):
        if instruction.keyword == "FROM":
            result.append([])
        if result:
            result[-1].append(instruction)
    return result


def arguments_of(stage: list[Instruction], keyword: str) -> list[str]:
    return [i.arguments for i in stage if i.keyword == keyword]


def base_image(stage: list[Instruction]) -> str:
    words = [w for w in stage[0].arguments.split() if not w.startswith("--")]
    return words[0]


@pytest.mark.parametrize("path", ALL_DOCKERFILES, ids=DOCKERFILE_IDS)
def test_builds_in_a_builder_stage_and_runs_from_a_clean_one(path: Path) -> None:
    builder, *_, final = stages(path)
    assert len(stages(path)) >= 2
    assert builder[0].arguments.lower().endswith(" as builder")
    # The venv's interpreter links point into the base image: both stages must share it.
    assert base_image(builder) == base_image(final) == "python:3.11-slim"
    assert any("--no-deps" in run for run in arguments_of(builder, "RUN"))
    assert "--from=builder /opt/venv /opt/venv" in arguments_of(final, "COPY")


@pytest.mark.parametrize("path", ALL_DOCKERFILES, ids=DOCKERFILE_IDS)
def test_the_image_runs_the_runtime_lock_alone_checked_against_its_hashes(path: Path) -> None:
    builder, *_, final = stages(path)
    runs = " && ".join(arguments_of(builder, "RUN"))
    commands = [command.strip() for command in runs.split("&&")]
    # What the image runs: /opt/venv (its pip is first on PATH), from the runtime lock, every file hash-checked.
    assert "pip install --require-hashes -r requirements/runtime.lock" in " ".join(commands)
    assert "dev.lock" not in path.read_text(), "tests, tools and benchmarks stay out of the images"
    # The build backend in a venv of its own that the final stage leaves behind.
    (build_install,) = [c for c in commands if "requirements/build.lock" in c]
    assert build_install.startswith("/opt/build/bin/pip install --require-hashes ")
    (wheels,) = [c for c in commands if " wheel " in c]
    assert wheels.startswith("/opt/build/bin/pip wheel ")
    assert "--no-build-isolation" in wheels
    # The SmartSlot packages themselves, offline and without dependencies (those are the runtime lock's).
    (packages,) = [c for c in commands if c.startswith("pip install") and "/tmp/wheels" in c]
    assert "--no-deps" in packages
    assert "--no-index" in packages
    copied = [copy for copy in arguments_of(final, "COPY") if copy.startswith("--from=")]
    assert copied == ["--from=builder /opt/venv /opt/venv"]


@pytest.mark.parametrize("path", ALL_DOCKERFILES, ids=DOCKERFILE_IDS)
def test_runs_as_a_fixed_non_root_user(path: Path) -> None:
    users = arguments_of(stages(path)[-1], "USER")
    assert users, "the final stage sets no USER"
    user = users[-1]
    assert user not in ROOT_USERS
    # Numeric, so Kubernetes can check runAsNonRoot without reading /etc/passwd.
    assert re.fullmatch(r"[1-9]\d*(:\d+)?", user), user


@pytest.mark.parametrize("path", ALL_DOCKERFILES, ids=DOCKERFILE_IDS)
def test_copies_only_files_the_build_context_sends(path: Path) -> None:
    rules = [line for line in (REPO / ".dockerignore").read_text().splitlines() if line and line[0] != "#"]
    assert rules[0] == "*", ".dockerignore starts by excluding everything, then lets in what images need"
    allowed = [rule[1:].rstrip("/") for rule in rules if rule.startswith("!")]
    for copy in arguments_of([i for stage in stages(path) for i in stage], "COPY"):
        if copy.startswith("--from="):
            continue
        *sources, _destination = [w for w in copy.split() if not w.startswith("--")]
        for source in sources:
            assert (REPO / source).exists(), source
            assert any(source == a or source.startswith(a + "/") for a in allowed), source


@pytest.mark.parametrize("name", APPS)
def test_service_image_serves_its_port_and_checks_its_health(name: str) -> None:
    final = stages(SERVICE_DOCKERFILES[name])[-1]
    port = APPS[name]
    assert arguments_of(final, "EXPOSE") == [str(port)]
    environment = " ".join(arguments_of(final, "ENV"))
    assert f"SMARTSLOT_{name.upper()}_HOST=0.0.0.0" in environment
    assert f"SMARTSLOT_{name.upper()}_PORT={port}" in environment
    (healthcheck,) = arguments_of(final, "HEALTHCHECK")
    command = json.loads(healthcheck[healthcheck.index("CMD") + len("CMD") :])
    assert command[:2] == ["python", "-c"]
    assert "urllib.request" in command[2]
    assert "/healthz" in command[2]
    assert str(port) in command[2]


@pytest.mark.parametrize("name", APPS)
def test_service_image_starts_the_service_module(name: str) -> None:
    final = stages(SERVICE_DOCKERFILES[name])[-1]
    (entrypoint,) = arguments_of(final, "ENTRYPOINT")
    assert json.loads(entrypoint) == ["python", "-m", name]
    assert any(f"./services/{name}" in run for run in arguments_of(stages(SERVICE_DOCKERFILES[name])[0], "RUN"))


def test_service_dockerfiles_differ_only_in_service_name_and_port() -> None:
    def generic(name: str) -> str:
        text = SERVICE_DOCKERFILES[name].read_text()
        return text.replace(name, "<name>").replace(name.upper(), "<NAME>").replace(str(APPS[name]), "<port>")

    assert len({generic(name) for name in APPS}) == 1


def test_migrate_image_carries_every_service_and_runs_the_migrator() -> None:
    builder, *_, final = stages(MIGRATE_DOCKERFILE)
    installs = " ".join(arguments_of(builder, "RUN"))
    migrated = APPS.keys() - {"console"}  # the console owns no schema
    for name in migrated:
        assert f"./services/{name}" in installs
    assert json.loads(arguments_of(final, "ENTRYPOINT")[0]) == ["smartslot-migrate"]
    assert set(json.loads(arguments_of(final, "CMD")[0])) == migrated
