"""layerscan.db.feeds"""
