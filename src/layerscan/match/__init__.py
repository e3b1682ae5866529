"""layerscan.match"""
