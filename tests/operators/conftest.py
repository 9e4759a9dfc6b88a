"""The API tests' users and clients, for the operator tests (sign-in, tokens, audit) that span the API and the admin."""

from tests.api.conftest import (  # noqa: F401  (fixtures)
    _fast_password_hashing,
    _fresh_throttle_counters,
    admin_client,
    anon_client,
    operator_client,
    users,
    viewer_client,
)
