"""The notifier owns schema `notifier`: notifications and its processed-event inbox."""

SCHEMA = "notifier"
COMPONENTS = ("inbox",)
