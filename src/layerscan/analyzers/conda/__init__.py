"""conda analyzers: installed ``conda-meta/*.json`` records and ``environment.yml`` files."""
