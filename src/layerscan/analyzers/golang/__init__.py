"""golang analyzers."""
