"""Withdraw an OAuth2 grant at the provider, in the style its spec's `revoke` block names.

Styles (catalog/SPEC.md, "oauth2.revoke"):
- `rfc7009`: POST a form `token` + `token_type_hint` per token (RFC 7009 section 2.1); a bare
  `revoke_url` means this style with the token endpoint's client authentication;
- `json`: POST a JSON body `{"token": …}` per token (Notion, QuickBooks), the key renamed by
  `token_key` (Miro: `accessToken`, with `clientId`/`clientSecret` from the body templates);
- `query`: POST with the token as the query parameter `token` (Zoho);
- `bearer`: POST (or the block's `method`, DELETE for Smartsheet) with `Authorization: Bearer
  <access token>` and no body (Slack auth.revoke, Dropbox, Linear, Intercom);
- `delete`: DELETE the URL, whose template names what it deletes (`{refresh_token}`,
  `{client_id}`), optionally with a JSON `body` of templates (HubSpot, GitHub).
Every URL keeps the host its template fixes (catalog/hosts.py); nothing quotes a token.
"""

import requests
from django.views.decorators.debug import sensitive_variables

from catalog.templating import render_template, template_names

from .. import outbound
from ..errors import ConnectionFailure
from ..models import ErrorCode
from .base import (
    REQUEST_ERRORS,
    TimeoutSession,
    render_url,
    template_values,
    unavailable_from_exception,
    unavailable_from_response,
)

DEFAULT_TOKENS = ("refresh_token", "access_token")


def revoke_block(oauth2: dict) -> dict | None:
    """Return the spec's revoke block with its defaults, or None when the app cannot revoke."""
    block = oauth2.get("revoke")
    if not block and oauth2.get("revoke_url"):
        block = {"style": "rfc7009", "url": oauth2["revoke_url"]}
    if not block:
        return None
    style = block["style"]
    client_auth = oauth2.get("client_auth") or "body"
    defaults = {
        "tokens": list(DEFAULT_TOKENS),
        "client_auth": client_auth if style in ("rfc7009", "json") else "none",
        "body": {},
    }
    return {**defaults, **block}


@sensitive_variables("client_secret", "credentials", "values", "body_values", "token")
def revoke_requests(app, block: dict, *, client, client_secret: str, config, credentials) -> list[tuple]:
    """Return the (method, url, request keyword arguments) that withdraw the grant as documented."""
    style = block["style"]
    auth = None
    client_body = {}
    if block["client_auth"] == "basic":
        auth = requests.auth.HTTPBasicAuth(client.client_id, client_secret)
    elif block["client_auth"] == "body":
        client_body = {"client_id": client.client_id, "client_secret": client_secret}
    values = {**template_values(app, config), "client_id": client.client_id}
    values.update({key: credentials.get(key) for key in DEFAULT_TOKENS if credentials.get(key)})
    # Only a body may name the client secret (catalog/hosts.py spec_fields); never a URL.
    body_values = {**values, "client_secret": client_secret}

    if style in ("bearer", "delete"):
        named = template_names(block["url"]) + [n for v in block["body"].values() for n in template_names(v)]
        if any(name in DEFAULT_TOKENS and not values.get(name) for name in named):
            return []  # the token the request names is not held: nothing to withdraw
        url = render_url(app, block["url"], values, grant=True)
        body = {key: render_template(value, body_values) for key, value in block["body"].items()}
        if style == "bearer":
            if not credentials.get("access_token"):
                return []
            headers = {"Authorization": f"Bearer {credentials['access_token']}"}
            return [(block.get("method") or "POST", url, {"headers": headers, "auth": auth})]
        return [("DELETE", url, {"json": body or None, "auth": auth})]

    url = render_url(app, block["url"], values, grant=True)
    calls = []
    for hint in block["tokens"]:
        token = credentials.get(hint)
        if not token:
            continue
        if style == "rfc7009":
            kwargs = {"data": {**client_body, "token": token, "token_type_hint": hint}}
        elif style == "json":
            extra = {key: render_template(value, body_values) for key, value in block["body"].items()}
            kwargs = {"json": {**client_body, **extra, block.get("token_key") or "token": token}}
        else:  # query
            kwargs = {"params": {"token": token}, "data": client_body or None}
        calls.append(("POST", url, {**kwargs, "auth": auth}))
    return calls


@sensitive_variables("client_secret", "credentials", "calls")
def revoke_grant(app, block: dict, *, client, client_secret: str, config, credentials) -> None:
    """Send the revoke requests; raise the first failure (app_unavailable or authorization_rejected)."""
    calls = revoke_requests(
        app, block, client=client, client_secret=client_secret, config=config, credentials=credentials
    )
    failure = None
    withdrawn = False  # a token of the grant was revoked: the ones after it may be dead already
    with outbound.harden(TimeoutSession()) as http:
        for method, url, kwargs in calls:
            try:
                response = http.request(method, url, **kwargs)
            except REQUEST_ERRORS as exc:
                failure = failure or unavailable_from_exception(app, exc, "revocation endpoint")
                continue
            if response.status_code < 400:
                withdrawn = True
            elif response.status_code >= 500 or response.status_code == 429:
                failure = failure or unavailable_from_response(app, response, "revocation endpoint")
            elif withdrawn and response.status_code in (400, 401):
                # RFC 7009 2.1: revoking the refresh token ends its access tokens; Google and
                # others then answer 400 invalid_token for the access token sent next.
                continue
            elif response.status_code >= 400:
                failure = failure or ConnectionFailure(
                    ErrorCode.AUTHORIZATION_REJECTED,
                    f"{app.name} refused the revocation (HTTP {response.status_code}).",
                    http_status=response.status_code,
                )
    if failure is not None:
        raise failure

