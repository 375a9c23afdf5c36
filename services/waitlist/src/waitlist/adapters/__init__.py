"""Adapters: the waitlist's PostgreSQL repositories and its client of booking's internal endpoints."""
