"""Readers for SBOM documents (CycloneDX JSON, SPDX JSON, SPDX tag-value).

Use :func:`layerscan.source.sbom_input.load_sbom`; the modules here are its parts:
``purls`` (purl -> Package fields, distro -> OSInfo), ``builder`` (what every
format shares: limits, layers, notes), one module per document format.
"""
