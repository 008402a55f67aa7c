"""The IRC connection: protocol, CAP/SASL/STS, throttle, text handling, service."""
