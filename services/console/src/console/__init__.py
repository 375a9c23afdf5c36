"""SmartSlot's web console: server-rendered pages over the public API, for clients, providers and admins."""
