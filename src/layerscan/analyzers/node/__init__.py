"""node analyzers."""
