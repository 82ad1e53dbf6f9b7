"""Real instrumentation libraries against a fake provider, exporting to the served app."""

import pytest

# The shared checks live outside test modules: pytest explains their failures only when
# it rewrites them too.
pytest.register_assert_rewrite("tests.web.instrumented.readback", "tests.web.instrumented.harness")
