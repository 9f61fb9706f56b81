"""Template filters of the customers app."""

from django import template

from anju.customers.disclosure import mask_name

register = template.Library()


@register.filter
def masked_name(value: str) -> str:
    """A name outside the viewer's scope, as the desk shows it: ``王小明`` → ``王*`` (issue #9 defect 6)."""
    return mask_name(value)
