"""layerscan.walk"""
