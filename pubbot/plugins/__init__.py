"""pubbot's built-in handler plugins (a twisted.plugin package)."""
