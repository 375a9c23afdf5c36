"""What every SmartSlot service shares: settings, logging, metrics, tracing, database, messaging, HTTP."""
