"""ruby analyzers."""
