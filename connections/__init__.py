"""Connections: tenants, attempts, connections, global connections, and their upkeep."""


def __getattr__(name):
    # `connections.use(...)` for flows, imported lazily so the app registry loads first.
    if name == "use":
        from .client import use

        return use
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
