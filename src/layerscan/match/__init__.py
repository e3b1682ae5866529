"""Matching: SBOM x vulnerability database -> findings, each with why it matched."""
