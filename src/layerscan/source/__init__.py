"""layerscan.source"""
