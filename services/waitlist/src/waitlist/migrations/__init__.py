"""Waitlist owns schema `waitlist`: entries, offers, its outbox and its inbox."""

SCHEMA = "waitlist"
COMPONENTS = ("outbox", "inbox")
