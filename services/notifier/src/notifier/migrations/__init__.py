"""The notifier owns schema `notifier`: notifications, deliveries, reminders, webhook endpoints and its inbox."""

SCHEMA = "notifier"
COMPONENTS = ("inbox",)
