"""Reading the audit trail of registry actions (deletes, yanks, visibility changes, forks).

Events are written by `service._audit` in the transaction of the action itself, and keep
their subject as text (`owner/name` or `owner/name@version`), so they outlive the rows
they describe. Site admins read all of them; an environment's admins read its own.
"""

from __future__ import annotations

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from hub.accounts.models import User
from hub.registry.models import AuditEvent
from hub.registry.schemas import AuditEventOut, AuditPage


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def page(db: Session, *, subject: str | None, action: str | None, page_no: int,
         per_page: int, exact_env: bool = False) -> AuditPage:
    """Newest first. `subject` matches the subject itself and its versions
    (`owner/name` and `owner/name@...`); `exact_env` forbids a wider prefix match."""
    query = select(AuditEvent, User.username).outerjoin(User, User.id == AuditEvent.actor_id)
    if subject:
        versions = AuditEvent.subject.like(_escape_like(subject) + "@%", escape="\\")
        if exact_env:
            query = query.where(or_(AuditEvent.subject == subject, versions))
        else:
            prefix = AuditEvent.subject.like(_escape_like(subject) + "%", escape="\\")
            query = query.where(prefix)
    if action:
        query = query.where(AuditEvent.action == action)
    total = db.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = db.execute(query.order_by(AuditEvent.created_at.desc(), AuditEvent.id.desc())
                      .offset((page_no - 1) * per_page).limit(per_page)).all()
    items = [AuditEventOut(id=event.id, action=event.action, subject=event.subject,
                           actor=username, details=event.details, created_at=event.created_at)
             for event, username in rows]
    return AuditPage(items=items, total=total, page=page_no, per_page=per_page)
