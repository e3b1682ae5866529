"""layerscan.db"""
