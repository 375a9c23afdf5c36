"""Entrypoints: HTTP routes, event consumers and the sweeper job."""
