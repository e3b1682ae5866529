"""layerscan.source.registry"""
