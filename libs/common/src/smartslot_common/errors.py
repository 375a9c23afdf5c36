"""Errors that cross module boundaries in the shared library."""

from __future__ import annotations


class DependencyUnavailable(Exception):
    """A server the service needs did not answer at start-up."""

    def __init__(self, dependency: str, target: str, how_to_start: str, cause: BaseException | None = None):
        self.dependency = dependency
        self.target = target
        self.how_to_start = how_to_start
        reason = f": {cause}" if cause and str(cause) else (f": {type(cause).__name__}" if cause else "")
        super().__init__(f"cannot reach {dependency} at {target}{reason} — {how_to_start}")
