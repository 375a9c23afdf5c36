"""Where the time goes: CPU seconds per process during a scenario, and py-spy stack samples of chosen services."""
