"""Reports: one ScanReport document (document.py), one writer module per format."""
