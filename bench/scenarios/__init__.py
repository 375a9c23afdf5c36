"""Benchmark scenarios; each returns an `Outcome` plus the facts it checked."""
