"""What the reception desk is told about a visitor it registered (issue #9 defect 6, R6.1.1, R5.2.2).

The desk needs to greet the visitor and call the agent who receives them; it does not need to know
whose customer the visitor is. A customer outside the desk user's own data scope is shown with a
masked name (王*) and without their id or owner, so typing numbers at the desk does not look people
up. The owner is still told internally: the reception service notifies the assigned agent.
"""

from __future__ import annotations

from dataclasses import dataclass

from anju.core.scoping import in_scope

from .choices import VisitStatus
from .models import Visit


def mask_name(name: str) -> str:
    """``王小明`` → ``王*``: the first character only, and one star whatever the length."""
    name = (name or "").strip()
    return f"{name[0]}*" if name else ""


@dataclass(frozen=True)
class DeskVisitor:
    """The visitor as the desk user may see them right after registering the visit."""

    customer_id: int | None  # only inside the viewer's own data scope
    name: str  # full inside the viewer's scope, masked outside it
    visible: bool
    returning: bool  # received at this branch's desk before


def desk_visitor(viewer, visit: Visit) -> DeskVisitor:
    """The visitor of ``visit`` as ``viewer`` (who registered it at the desk) may see them."""
    customer = visit.customer
    visible = in_scope(viewer, customer)
    returning = (
        Visit.objects.filter(customer_id=customer.pk, branch_id=visit.branch_id)
        .exclude(pk=visit.pk)
        .exclude(status=VisitStatus.LEFT)
        .exists()
    )
    return DeskVisitor(
        customer_id=customer.pk if visible else None,
        name=customer.name if visible else mask_name(customer.name),
        visible=visible,
        returning=returning,
    )
