"""The shops tests' fixtures (a brand world, store managers' clients), shared with these tests."""

from tests.miniprograms.conftest import manager_client  # noqa: F401
