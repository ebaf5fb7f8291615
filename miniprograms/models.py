"""miniprograms models: filled by its own issue."""
