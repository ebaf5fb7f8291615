"""rights_market models: filled by its own issue."""
