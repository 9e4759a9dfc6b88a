"""Template tags of the live console: the fleet dashboard drawn on the admin index."""

from django import template

from devices.cockpit import live

register = template.Library()


@register.inclusion_tag("admin/acuvim/dashboard.html", takes_context=True)
def fleet_dashboard(context):
    """First paint from the same snapshot the fleet socket sends; /ws/fleet/ keeps it current."""
    return {"snapshot": live.fleet_snapshot(), "perms": context.get("perms")}
