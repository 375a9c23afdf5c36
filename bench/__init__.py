"""SmartSlot's load driver and scenarios: open-loop, bounded, loopback only."""
