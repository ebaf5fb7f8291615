"""analytics models: filled by its own issue."""
