"""HTTP building blocks shared by every service: app factory, problem+json, JSON bodies, health."""

from smartslot_common.http.app import create_base_app
from smartslot_common.http.health import ReadinessCheck
from smartslot_common.http.json import json_response, read_json
from smartslot_common.http.problems import ProblemError

__all__ = ["ProblemError", "ReadinessCheck", "create_base_app", "json_response", "read_json"]
