"""livestream models: filled by its own issue."""
