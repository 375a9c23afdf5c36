"""Cross-service contracts: event types, who subscribes to what, and event payload schemas."""
