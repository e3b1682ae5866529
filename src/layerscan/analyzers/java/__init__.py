"""java analyzers."""
