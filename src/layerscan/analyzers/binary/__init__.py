"""Binaries without package metadata, identified by the version strings they carry
(``classifiers``: the table; ``engine``: the bounded search and the analyzer)."""
