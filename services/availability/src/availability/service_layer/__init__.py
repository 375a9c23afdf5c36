"""Availability's use cases: search, the provider day view, analytics."""
