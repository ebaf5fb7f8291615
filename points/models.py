"""points models: filled by its own issue."""
