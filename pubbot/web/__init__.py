"""The web service: dashboard, server-sent events, metrics, webhooks."""
