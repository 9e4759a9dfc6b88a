"""Error bodies of one shape: always a JSON object, so clients and the OpenAPI schema can rely on it.

DRF passes some validation errors through as bare lists (e.g. a search term with a NUL character);
those become `{"non_field_errors": [...]}` like any other error that belongs to no single field.
"""

from rest_framework.settings import api_settings
from rest_framework.views import exception_handler


def api_exception_handler(exc, context):
    response = exception_handler(exc, context)
    if response is not None and isinstance(response.data, list):
        response.data = {api_settings.NON_FIELD_ERRORS_KEY: response.data}
    return response
