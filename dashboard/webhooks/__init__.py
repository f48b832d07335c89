"""Doors for outside services: each verifies its caller and hands the payload to a service."""
