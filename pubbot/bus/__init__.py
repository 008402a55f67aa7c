"""Buses beyond the local one: Redis Streams and ZeroMQ."""
