"""Shared test fixtures: hostile peers (see L{tests.support.hostile_http})."""
