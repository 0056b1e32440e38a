"""Writes of the connections app, one module per sub-domain (attempts, connections, health, …)."""
