"""Booking owns schema `booking`: catalog, schedules, slots, appointments, and its outbox."""

SCHEMA = "booking"
COMPONENTS = ("outbox",)
