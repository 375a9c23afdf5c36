"""HTTP routes, event consumers and background jobs."""
