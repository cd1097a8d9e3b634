"""The caller of a Plugin method: which project, and whether it is an admin."""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True, slots=True)
class Context:
    project_id: str | None = None
    is_admin: bool = False

    @classmethod
    def admin(cls) -> Context:
        return cls(project_id=None, is_admin=True)

    def can_see(self, project_id: str | None, shared: bool = False) -> bool:
        """Whether this caller may read a resource owned by ``project_id``."""
        return self.is_admin or shared or project_id == self.project_id
