"""Recipient subject/message templates (``string.Template`` syntax).

Why: templates are written by admins through the API and rendered later, off
the request path, where a failure would only show up as a missing Telegram
message. ``validate_template`` lets CreateRecipient/UpdateRecipient reject a
bad template up front with a message naming the problem.
"""

from __future__ import annotations

from collections.abc import Mapping
from string import Template

__all__ = ["TEMPLATE_FIELDS", "render_template", "validate_template"]

TEMPLATE_FIELDS = (
    "alert_id",
    "event_id",
    "date",
    "device_id",
    "device_name",
    # Incident notifications (domain/notifications.py); empty when rendering for an alert alone.
    "incident_id",
    "position",
    "incident_link",
)

_ALLOWED = ", ".join(f"${name}" for name in TEMPLATE_FIELDS)


def validate_template(template: str) -> None:
    """Raise ValueError on bad syntax or a placeholder outside TEMPLATE_FIELDS."""
    _placeholders(template)


def render_template(template: str, values: Mapping[str, object]) -> str:
    """Substitute ``values`` into ``template``; ValueError if one is missing."""
    missing = [name for name in _placeholders(template) if name not in values]
    if missing:
        raise ValueError(f"no value for template placeholder(s): {', '.join(missing)}")
    return Template(template).substitute(values)


def _placeholders(template: str) -> list[str]:
    """Names used by ``template`` in order, after checking syntax and names."""
    names: list[str] = []
    for match in Template.pattern.finditer(template):
        if match.group("invalid") is not None:
            start = match.start()  # the "$"; the "invalid" group starts after it
            snippet = template[start : start + 20]
            if start == len(template) - 1:
                problem = "'$' at the end"
            elif template[start + 1] == "{":
                problem = "'${' without a valid name and closing '}'"
            else:
                problem = "'$' not followed by a name"
            raise ValueError(
                f"invalid placeholder at position {start}: {snippet!r}: {problem} "
                f"(use $name or ${{name}} with one of {_ALLOWED}; write $$ for a literal $)"
            )
        name = match.group("named") or match.group("braced")
        if name is None:  # "$$" escape
            continue
        if name not in TEMPLATE_FIELDS:
            raise ValueError(f"unknown template placeholder ${name}; allowed: {_ALLOWED}")
        if name not in names:
            names.append(name)
    return names
