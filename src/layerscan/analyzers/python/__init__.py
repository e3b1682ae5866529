"""python analyzers."""
