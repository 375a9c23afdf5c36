"""`make soak`: the mixed day for a long while against a stack of its own, with a fault every few minutes; it fails
if memory grows, a table outgrows its retention window, an error shows outside a fault, or an invariant breaks."""
