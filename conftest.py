"""Fixtures for every test tier live in the shared library's pytest plugin."""

pytest_plugins = ["smartslot_common.testing.pytest_plugin"]
