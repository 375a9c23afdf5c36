"""The dependency locks (requirements/): pinned with hashes, one version of a package across them, and a runtime
lock that holds what the services import and none of the development, test and benchmark tools, since it is all
the images install."""

import ast
import re
import shlex
import subprocess
import sys
import tomllib
from functools import cache
from importlib.metadata import distributions
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
REQUIREMENTS = REPO / "requirements"
LOCK_NAMES = ("runtime", "build", "dev")
PACKAGES = [REPO / "libs" / "common", *sorted(path.parent for path in REPO.glob("services/*/pyproject.toml"))]
FIRST_PARTY = {"smartslot_common", *(path.name for path in PACKAGES if path.parent.name == "services")}
# What runs in the images: every package's src, and the demo seed the migrate image carries (compose's `seed`).
RUNTIME_SOURCES = [*(path / "src" for path in PACKAGES), REPO / "scripts" / "seed_demo.py"]
# The shared library's test support (the pytest plugin, isolated stacks): imported by tests only.
TEST_SUPPORT = REPO / "libs" / "common" / "src" / "smartslot_common" / "testing"
# Never in an image, whatever pulls them in.
TOOLS = {
    "pytest",
    "pytest-asyncio",
    "pytest-timeout",
    "hypothesis",
    "numpy",
    "matplotlib",
    "ruff",
    "mypy",
    "py-spy",
    "playwright",
    "schemathesis",
    "hdrhistogram",
    "honcho",
    "aiosmtpd",
    "hatchling",
    "editables",
}
_ENTRY = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?==(\S+)")


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


@cache
def lock(name: str) -> dict[str, tuple[str, tuple[str, ...]]]:
    """Package -> (version, hashes) of requirements/<name>.lock."""
    entries: dict[str, tuple[str, tuple[str, ...]]] = {}
    text = (REQUIREMENTS / f"{name}.lock").read_text()
    # One requirement per logical line: `name==version \ --hash=... \ --hash=...`, comments after it.
    for line in re.sub(r"\\\n\s*", " ", text).splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        found = _ENTRY.match(line)
        assert found, f"{name}.lock: not a pinned requirement: {line!r}"
        hashes = tuple(re.findall(r"--hash=(\S+)", line))
        entries[canonical(found.group(1))] = (found.group(3), hashes)
    return entries


def direct_requirements(name: str) -> set[str]:
    """The packages requirements/<name>.in names (not its -c/-r lines)."""
    names = set()
    for line in (REQUIREMENTS / f"{name}.in").read_text().splitlines():
        requirement = line.split("#", 1)[0].strip()
        if requirement and not requirement.startswith("-"):
            names.add(canonical(re.split(r"[\[<>=!~; ]", requirement, maxsplit=1)[0]))
    return names


def imported_modules(path: Path) -> set[str]:
    """Dotted names a file imports absolutely; `from a import b` gives a.b (b may be a module or a name in a)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def runtime_imports() -> dict[str, set[Path]]:
    """Third-party modules the images' code imports -> the files importing them."""
    imports: dict[str, set[Path]] = {}
    for source in RUNTIME_SOURCES:
        for path in [source] if source.is_file() else sorted(source.rglob("*.py")):
            if path.is_relative_to(TEST_SUPPORT):
                continue
            for module in imported_modules(path):
                top = module.split(".")[0]
                if top not in sys.stdlib_module_names and top not in FIRST_PARTY and top != "__future__":
                    imports.setdefault(module, set()).add(path.relative_to(REPO))
    return imports


@cache
def distributions_by_module_path() -> dict[str, frozenset[str]]:
    """Module path (`a/b/c`: a package directory or a module file without its suffix) -> the installed
    distributions whose files hold it."""
    holders: dict[str, set[str]] = {}
    for dist in distributions():
        name = canonical(dist.metadata["Name"])
        for file in dist.files or ():
            parts = file.parts
            stem = parts[-1].split(".", 1)[0]  # c.py, c.cpython-311-x86_64-linux-gnu.so
            for end in range(1, len(parts)):
                holders.setdefault("/".join(parts[:end]), set()).add(name)
            holders.setdefault("/".join([*parts[:-1], stem]), set()).add(name)
    return {path: frozenset(names) for path, names in holders.items()}


def distributions_providing(module: str) -> frozenset[str]:
    """The installed distributions holding `module`, or its closest parent (several share a namespace package,
    opentelemetry: the deepest path decides)."""
    parts = module.split(".")
    for end in range(len(parts), 0, -1):
        if holders := distributions_by_module_path().get("/".join(parts[:end])):
            return holders
    return frozenset()


def test_every_lock_pins_every_package_to_one_version_with_its_hashes() -> None:
    for name in LOCK_NAMES:
        assert lock(name), name
        unhashed = sorted(package for package, (_version, hashes) in lock(name).items() if not hashes)
        assert not unhashed, f"{name}.lock: no --hash for {unhashed}: make lock"


@pytest.mark.parametrize("name", LOCK_NAMES)
def test_each_lock_is_compiled_from_its_in_file_with_hashes(name: str) -> None:
    header = (REQUIREMENTS / f"{name}.lock").read_text().splitlines()[1]
    assert f"requirements/{name}.in -o requirements/{name}.lock" in header
    assert "--generate-hashes" in header
    missing = direct_requirements(name) - lock(name).keys()
    assert not missing, f"requirements/{name}.in names {sorted(missing)}, which {name}.lock lacks: run make lock"


def test_the_runtime_lock_holds_no_development_test_or_benchmark_tool() -> None:
    unwanted = TOOLS | direct_requirements("dev") | direct_requirements("build")
    assert not unwanted & lock("runtime").keys()
    # The build backend's lock neither (the images' builder stage installs it).
    assert not (TOOLS - {"hatchling"}) & lock("build").keys()


def test_a_package_two_locks_share_has_one_version() -> None:
    versions: dict[str, dict[str, str]] = {}
    for name in LOCK_NAMES:
        for package, (version, _hashes) in lock(name).items():
            versions.setdefault(package, {})[name] = version
    assert lock("runtime").keys() & lock("dev").keys(), "dev tools share packages with the runtime (typing-extensions)"
    split = {package: found for package, found in versions.items() if len(set(found.values())) > 1}
    assert not split


def test_every_import_of_the_images_code_is_a_package_of_the_runtime_lock() -> None:
    imports = runtime_imports()
    assert {"aiohttp", "asyncpg", "jwt.exceptions"} & imports.keys(), "the scan found the services' imports"
    runtime = lock("runtime").keys()
    unresolved = {}
    for module, files in sorted(imports.items()):
        providers = distributions_providing(module)
        if not providers & runtime:
            unresolved[module] = (sorted(providers) or "no installed distribution", sorted(map(str, files))[:3])
    assert not unresolved, "imported by code the images run, missing from requirements/runtime.in"


def test_every_dependency_a_package_declares_is_in_the_runtime_lock() -> None:
    declared = {
        canonical(re.split(r"[\[<>=!~; ]", requirement, maxsplit=1)[0])
        for path in PACKAGES
        for requirement in tomllib.loads((path / "pyproject.toml").read_text())["project"].get("dependencies", [])
    }
    assert declared - {"smartslot-common"} - lock("runtime").keys() == set()


def test_the_build_lock_holds_the_packages_build_backend() -> None:
    backends = {
        canonical(requirement)
        for path in PACKAGES
        for requirement in tomllib.loads((path / "pyproject.toml").read_text())["build-system"]["requires"]
    }
    assert backends <= lock("build").keys()
    assert "editables" in lock("dev"), "make install's editable installs"


def make_dry_run(*arguments: str) -> list[str]:
    result = subprocess.run(
        ["make", "--no-print-directory", "-n", *arguments],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()


def test_make_install_installs_the_three_locks_requiring_hashes_and_the_packages_apart() -> None:
    # -B: every step, whatever is already installed.
    installs = [shlex.split(line) for line in make_dry_run("-B", "install") if " pip install " in line]
    locked = [words for words in installs if "-r" in words]
    assert len(locked) == 1
    (words,) = locked
    assert "--require-hashes" in words
    assert [words[i + 1] for i, word in enumerate(words) if word == "-r"] == [
        f"requirements/{name}.lock" for name in LOCK_NAMES
    ]
    (editables,) = [words for words in installs if "-e" in words]
    assert "--no-deps" in editables
    assert "-r" not in editables


def test_make_lock_compiles_each_lock_with_hashes_in_order() -> None:
    compiles = [shlex.split(line) for line in make_dry_run("lock") if " pip compile " in line]
    compiled = [next(word for word in words if word.endswith(".in")) for words in compiles]
    assert compiled == [f"requirements/{name}.in" for name in LOCK_NAMES]
    for words in compiles:
        assert "--generate-hashes" in words
        assert "--upgrade" not in words, "make lock keeps the pins that still fit"
