"""php analyzers."""
