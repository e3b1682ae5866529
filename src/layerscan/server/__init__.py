"""layerscan.server"""
