"""The gateway's OpenAPI document is generated without any other service's code: from the gateway's own models and
the schema fragments the services publish in `smartslot_common.contracts.openapi`, which the gateway image holds."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import textwrap
from pathlib import Path

import pytest

import gateway
import smartslot_common
from gateway.openapi.generate import Components, _check_references, _merged
from gateway.routing import ROUTES, Doc, Route

OTHER_SERVICES = ("booking", "availability", "waitlist", "notifier", "console")

# `python -m gateway.openapi --check` in an interpreter that sees only the gateway's and the shared library's
# sources and the third-party packages (`-S`: no .pth file puts another service's sources on the path), where
# importing another service's package fails even if it were installed there.
CHECK_WITHOUT_OTHER_SERVICES = textwrap.dedent(f"""
    import importlib.abc, importlib.util, runpy, sys

    class OtherServices(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path, target=None):
            if name.partition(".")[0] in {OTHER_SERVICES!r}:
                raise ImportError("the gateway imported " + name)
            return None

    sys.meta_path.insert(0, OtherServices())
    sys.argv = ["gateway.openapi", "--check"]
    runpy.run_module("gateway.openapi", run_name="__main__")
""")


def _gateway_and_common_only() -> dict[str, str]:
    sources = [Path(package.__file__ or "").resolve().parents[1] for package in (gateway, smartslot_common)]
    paths = [*map(str, sources), sysconfig.get_paths()["purelib"]]
    return {key: value for key, value in os.environ.items() if not key.startswith("PYTHON")} | {
        "PYTHONPATH": os.pathsep.join(paths)}


def test_the_document_is_checked_with_only_the_gateway_and_the_shared_library() -> None:
    finished = subprocess.run([sys.executable, "-S", "-c", CHECK_WITHOUT_OTHER_SERVICES], capture_output=True,
                              text=True, timeout=60, check=False, env=_gateway_and_common_only())
    assert finished.returncode == 0, finished.stderr


def test_a_route_naming_a_model_its_service_does_not_publish_is_refused() -> None:
    unpublished = Route("GET", "/v1/nothing", "booking", None, Doc("Nothing", "catalog", response="booking:Nothing"))
    with pytest.raises(KeyError, match="booking publishes no Nothing among its answers"):
        Components((*ROUTES, unpublished))


def test_a_request_model_is_not_taken_for_an_answer() -> None:
    as_answer = Route("GET", "/v1/nothing", "booking", None, Doc("Nothing", "catalog", response="booking:CreateSlot"))
    with pytest.raises(KeyError, match="among its answers"):
        Components((*ROUTES, as_answer))


def test_a_reference_nobody_publishes_is_refused() -> None:
    with pytest.raises(ValueError, match="Ghost"):
        _check_references({"Page": {"items": {"$ref": "#/components/schemas/Ghost"}}}, [])


def test_two_services_defining_one_name_differently_is_refused() -> None:
    assert _merged([("booking", {"PageQuery": {"a": 1}}), ("waitlist", {"PageQuery": {"a": 1}})]) == {
        "PageQuery": {"a": 1}}
    with pytest.raises(ValueError, match="two schemas named PageQuery"):
        _merged([("booking", {"PageQuery": {"a": 1}}), ("waitlist", {"PageQuery": {"a": 2}})])
