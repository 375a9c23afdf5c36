"""Availability's pure domain: days and time zones, what an event invalidates, search selection, analytics."""
