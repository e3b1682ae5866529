"""Policy: severity / status / ignore file / VEX / EOL filters and the fail decision."""

from layerscan.policy.decision import PolicyOptions, PolicyResult, apply_policy

__all__ = ["PolicyOptions", "PolicyResult", "apply_policy"]
