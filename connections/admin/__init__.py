"""The Django admin for the connections app, one module per job: companies and connections,
publication (reviews and global connections), and the read-only rows staff look at."""

from . import connections, publication, readonly  # noqa: F401  (each registers its admins)
