"""Settings for the test suite: the real PostgreSQL on this machine unless DATABASE_URL says otherwise."""

import os

os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/acuvim")

from acuvim_console.settings import *  # noqa: F403
