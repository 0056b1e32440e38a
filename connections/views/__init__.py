"""Dashboard pages, one module per sub-domain (as django-oauth-toolkit's views package):

- catalog.py: the app grid, one app's page, the "+ New Connection" picker;
- attempts.py: the connection window (Link an account, Re-authorize), callback, attempt pages;
- connections.py: the list, one connection, Check, Rename, Revoke;
- global_connections.py: global connections as tenants see them;
- publication.py: a tenant admin's publication request;
- tenant.py: switch company, members, API tokens, settings;
- tenant_clients.py: a company's own OAuth client for an app (tenant admins).
"""
