from django import template

from anju.core.masking import mask_phone

register = template.Library()


@register.simple_tag(takes_context=True)
def query_replace(context, **changes) -> str:
    """The current query string with some parameters replaced (for pagination and sorting)."""
    query = context["request"].GET.copy()
    for key, value in changes.items():
        if value in (None, ""):
            query.pop(key, None)
        else:
            query[key] = value
    return query.urlencode()


@register.filter
def masked_phone(value: str) -> str:
    return mask_phone(value)


@register.filter
def pretty_json(value) -> str:
    """Indented JSON (Chinese kept readable) for before/after values in the audit browser."""
    import json

    from django.core.serializers.json import DjangoJSONEncoder

    if value in (None, ""):
        return ""
    return json.dumps(value, cls=DjangoJSONEncoder, ensure_ascii=False, indent=2, sort_keys=True)
