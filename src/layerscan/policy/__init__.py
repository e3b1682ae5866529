"""layerscan.policy"""
