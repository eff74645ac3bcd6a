"""Fixtures of the browser tests (defined in ``console_browser``, where the
test modules also import their helpers from)."""

from console_browser import browser, open_context, server  # noqa: F401 - fixtures

