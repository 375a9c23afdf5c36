"""Use cases: applying events, sending deliveries, dispatching reminders, managing webhook endpoints."""
