"""Page-number pagination that answers a bad `page` or `page_size` with 400 and a field error.

DRF's default turns a non-numeric page into 404 "Invalid page", which clients cannot tell apart from
a missing resource; a query parameter the client got wrong is a 400, like any other bad input.
"""

from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.pagination import PageNumberPagination

MAX_PAGE_SIZE = 500


class StandardPagination(PageNumberPagination):
    page_size_query_param = "page_size"
    max_page_size = MAX_PAGE_SIZE

    def get_page_size(self, request):
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None:
            return self.page_size
        if not raw.isdigit() or not 1 <= int(raw) <= self.max_page_size:
            raise ValidationError({self.page_size_query_param: [f"Must be an integer from 1 to {self.max_page_size}."]})
        return int(raw)

    def paginate_queryset(self, queryset, request, view=None):
        raw = request.query_params.get(self.page_query_param, "1")
        if raw != "last" and (not raw.isdigit() or int(raw) < 1):
            raise ValidationError({self.page_query_param: ["Must be a positive integer or 'last'."]})
        try:
            return super().paginate_queryset(queryset, request, view)
        except NotFound as error:  # a page past the end
            raise ValidationError({self.page_query_param: [str(error.detail)]}) from error
