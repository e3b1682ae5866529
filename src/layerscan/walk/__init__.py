"""layerscan.walk: layer streams (gzip/zstd/plain tar), directory walks, the
per-layer analysis cache, and squash with layer attribution.

- ``decompress.open_layer_stream``: stored blob -> plain tar stream (sniffed).
- ``tarstream.TarStream``: sequential tar header walk, content on demand.
- ``layer.analyze_layer`` / ``fswalk.analyze_directory`` -> ``analysis.LayerAnalysis``.
- ``cache.LayerCache`` / ``cache.cache_key``: atomic JSON entries under cache_dir/layers/.
- ``squash.squash``: stack analyses, attribute packages to layers -> ``SquashedImage``.
- ``links.plan_redirects``: package databases the stacked image reaches through a symlink.
"""
