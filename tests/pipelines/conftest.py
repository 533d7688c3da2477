"""Fixtures of the pipelines' tests."""
from tests.feedfiles import feeds  # noqa: F401  (the Feeds database fixture)
