"""Fixtures shared by the shared library's unit and integration tests."""

from __future__ import annotations

import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

MakeService = Callable[..., str]


@pytest.fixture
def make_service(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[MakeService]:
    """Write a throwaway service package with a migrations package; return its importable name."""
    monkeypatch.syspath_prepend(str(tmp_path))
    made: list[str] = []

    def make(files: dict[str, str], init: str = 'SCHEMA = "demo"\n') -> str:
        name = f"svc_{uuid.uuid4().hex[:10]}"
        package = tmp_path / name / "migrations"
        package.mkdir(parents=True)
        (tmp_path / name / "__init__.py").write_text("")
        (package / "__init__.py").write_text(init)
        for filename, sql in files.items():
            (package / filename).write_text(sql)
        made.append(name)
        return name

    yield make
    for name in made:
        for module in [module for module in sys.modules if module == name or module.startswith(name + ".")]:
            del sys.modules[module]
