"""Behaviour shared by the pydantic Step model and the plain runtime view of a step.

Only attribute access is used, so graph and scope helpers work on either without importing pydantic.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any

TASK_KINDS = ("python", "shell", "stub")


class StepShape:
    """What kind a step is and which blocks it holds, derived from its fields
    (`python`, `shell`, `stub`, `map`, `parallel`, `switch`, declared by the concrete class)."""

    @property
    def kinds(self) -> list[str]:
        """Which of the step kinds this step declares (valid steps declare exactly one)."""
        found = [k for k in ("python", "shell", "map", "parallel", "switch") if getattr(self, k) is not None]
        if getattr(self, "stub", None):
            found.append("stub")
        return found

    @cached_property
    def kind(self) -> str:
        kinds = self.kinds
        return kinds[0] if kinds else ""

    @property
    def is_task(self) -> bool:
        return self.kind in TASK_KINDS

    def blocks(self) -> list[tuple[str, Any]]:
        """Child blocks of a composite as (segment, steps); the segment is '' for a map body."""
        step: Any = self
        if step.map is not None:
            return [("", step.map.steps)]
        if step.parallel is not None:
            return [(name, block.steps) for name, block in step.parallel.items()]
        if step.switch is not None:
            return [(name, block.steps) for name, block in step.switch.cases.items()]
        return []
