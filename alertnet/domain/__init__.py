"""The domain core: pure functions over frozen dataclasses, no I/O (tested without Redis)."""
