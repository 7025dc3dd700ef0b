"""switchyard's driver and result tools (pure functions + thin CLIs)."""
