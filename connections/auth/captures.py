"""Values an app reports after the token, kept in the connection's config (catalog/SPEC.md).

`captures` name where each value comes from: the token answer (`token`), the callback's query
(`callback`) or the answer of the spec's `lookup`, one request sent with the fresh token
(`lookup`). A value is read at a dotted path (`team.id`, `accounts.0.base_uri`), checked
against its format (a `hostname` must match the spec's allowed_hosts; a URL given for a
`hostname` capture keeps its host only) and stored in the attempt's config, so that base_url,
headers and the test request can name it and the connection page can show it.
"""


def dig(data, path: str):
    """Return the value at a dotted path (`team.id`, `0.tenantId`) of a JSON answer, or None."""
    node = data
    for part in path.split(".") if path else ():
        if isinstance(node, dict):
            node = node.get(part)
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return None
    return node
