"""A stateful Huawei Cloud DDM simulator: the gateway's embedded upstream for demos and tests."""
from ddmsim.app import create_app, run_sim

__all__ = ["create_app", "run_sim"]
