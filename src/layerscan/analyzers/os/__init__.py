"""os analyzers."""
