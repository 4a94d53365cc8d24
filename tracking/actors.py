"""Who performs an action: the same shape whether it comes from a staff log-in or, later, an API token."""

from __future__ import annotations

from dataclasses import dataclass

from logistics.accounts.models import Role, Staff, User


@dataclass(frozen=True)
class Actor:
    """The person or system behind an event (recorded in ``tracking_events``: who, with which role)."""

    role: str  # a ``Role`` value, or "system" / "api" / "citizen"
    user_id: int | None = None
    name: str | None = None
    agency_id: int | None = None
    post_office_id: int | None = None

    @classmethod
    def from_user(cls, user: User | Staff) -> Actor:
        """The actor for a logged-in staff member."""
        return cls(role=str(user.role), user_id=user.id, name=user.full_name, agency_id=user.agency_id,
                   post_office_id=user.post_office_id)

    @classmethod
    def system(cls, name: str = "Hệ thống") -> Actor:
        """The system itself (periodic jobs)."""
        return cls(role="system", name=name)

    def has_role(self, *roles: Role) -> bool:
        """Whether the actor holds one of ``roles``."""
        return self.role in {str(r) for r in roles}
