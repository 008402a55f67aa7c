"""Integration tests against real servers started by the tests."""
