"""Client integration tests reuse the session's kubeling server fixture.

The fixture lives in tests/integration/apiserver/conftest.py today; if it moves up to
tests/integration/conftest.py pytest finds it there and this import is simply skipped.
"""

from __future__ import annotations

try:
    from tests.integration.apiserver.conftest import server  # noqa: F401
except ImportError:  # moved to a shared conftest: nothing to re-export
    pass
