"""The execution plan: the resolved pipeline lowered once, read by every backend and by the runtime.

`transpile.plan.model` (frozen dataclasses), `codec` (JSON round trip), `params` (one parameter
encoding), `lower` (compiled IR + deploy config -> plan; the only module here that needs pydantic).
"""

from transpile.plan.model import PLAN_VERSION, Block, Node, Plan, Step

__all__ = ["PLAN_VERSION", "Block", "Node", "Plan", "Step"]
