"""Ordering that refuses unknown fields with 400 instead of silently ignoring them."""

from rest_framework.exceptions import ValidationError
from rest_framework.filters import OrderingFilter


class StrictOrderingFilter(OrderingFilter):
    def get_ordering(self, request, queryset, view):
        raw = request.query_params.get(self.ordering_param)
        if raw:
            allowed = {name for name, _label in self.get_valid_fields(queryset, view, {"request": request})}
            wanted = [term.strip() for term in raw.split(",")]
            unknown = [term for term in wanted if term.lstrip("-") not in allowed]
            if unknown:
                raise ValidationError(
                    {self.ordering_param: [f"Unknown field(s) {', '.join(unknown)}; use {', '.join(sorted(allowed))}."]}
                )
        return super().get_ordering(request, queryset, view)
