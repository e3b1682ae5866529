"""rust analyzers."""
