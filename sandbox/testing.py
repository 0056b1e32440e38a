"""Test helpers for driving the sandbox over HTTP (used by the `sandbox` pytest fixture)."""

import re
import secrets
from dataclasses import dataclass, field

import requests

from . import services, switches
from .models import OAuth2Client

OAUTH2_CLIENT_ID = "sandbox-oauth2-client"
OAUTH1_CLIENT_KEY = "sandbox-oauth1-client"
BASIC_USERNAME = "sandbox-user"

_CSRF = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


@dataclass(frozen=True)
class BasicLogin:
    username: str
    password: str


@dataclass
class SandboxHandle:
    """The sandbox running at `url`, with one client of each kind and working credentials."""

    url: str
    client_id: str
    client_secret: str = field(repr=False)
    redirect_uri: str
    oauth1_client_key: str
    oauth1_client_secret: str = field(repr=False)
    oauth1_callback_uri: str
    api_key: str = field(repr=False)
    basic: BasicLogin = field(repr=False)
    email: str = services.DEFAULT_EMAIL

    @property
    def authorize_url(self) -> str:
        return f"{self.url}/sandbox/oauth2/authorize"

    @property
    def token_url(self) -> str:
        return f"{self.url}/sandbox/oauth2/token"

    @property
    def revoke_url(self) -> str:
        return f"{self.url}/sandbox/oauth2/revoke"

    @property
    def me_url(self) -> str:
        return f"{self.url}/sandbox/api/me"

    @property
    def oauth1_request_token_url(self) -> str:
        return f"{self.url}/sandbox/oauth1/request_token"

    @property
    def oauth1_authorize_url(self) -> str:
        return f"{self.url}/sandbox/oauth1/authorize"

    @property
    def oauth1_access_token_url(self) -> str:
        return f"{self.url}/sandbox/oauth1/access_token"

    def set_switch(self, target, mode, count=1, seconds=0, retry_after=1):
        """Arm a failure switch (see sandbox.switches)."""
        return switches.set_switch(target, mode, count=count, seconds=seconds, retry_after=retry_after)

    def reset(self) -> None:
        """Disarm every switch and zero the counters."""
        switches.reset()
        switches.reset_counts()

    def count(self, endpoint: str) -> int:
        """Return how many requests `endpoint` received ("token", "api", "revoke", "authorize", …)."""
        return switches.count(endpoint)

    def token_requests(self) -> int:
        """Return how many requests the OAuth2 token endpoint received."""
        return switches.count("token")

    def set_token_lifetime(self, seconds: int) -> None:
        """Make the OAuth2 client's next access tokens live `seconds` seconds."""
        OAuth2Client.objects.filter(client_id=self.client_id).update(access_token_lifetime=seconds)

    def approve(self, authorize_url: str, *, email: str | None = None, allow: bool = True) -> str:
        """Open a consent page (OAuth2 or OAuth1), press Allow (or Deny), return the redirect URL."""
        with requests.Session() as browser:
            page = browser.get(authorize_url, allow_redirects=False, timeout=10)
            if page.status_code in (301, 302, 303):
                return page.headers["Location"]
            if page.status_code != 200:
                raise AssertionError(f"consent page answered {page.status_code}: {page.text[:300]}")
            token = _CSRF.search(page.text).group(1)
            answer = browser.post(
                authorize_url,
                data={
                    "csrfmiddlewaretoken": token,
                    "email": email or self.email,
                    "action": "allow" if allow else "deny",
                },
                allow_redirects=False,
                timeout=10,
            )
            if answer.status_code not in (301, 302, 303):
                raise AssertionError(f"consent answered {answer.status_code}: {answer.text[:300]}")
            return answer.headers["Location"]

    def register_catalog_clients(self) -> None:
        """Create catalog.OAuthClient rows for the sandbox apps (after `sync_catalog`)."""
        # The sandbox depends on nothing of ours; only this test helper touches the catalog.
        from catalog.models import App
        from catalog.services import oauth_client_set

        for slug, client_id, secret in (
            ("sandbox-oauth2", self.client_id, self.client_secret),
            ("sandbox-oauth1", self.oauth1_client_key, self.oauth1_client_secret),
        ):
            app = App.objects.filter(slug=slug).first()
            if app is not None:
                oauth_client_set(app=app, client_id=client_id, client_secret=secret)


def start(url: str, *, access_token_lifetime: int = 3600) -> SandboxHandle:
    """Register the sandbox's test clients and credentials for an app served at `url`."""
    url = url.rstrip("/")
    client_secret = secrets.token_urlsafe(24)
    oauth1_secret = secrets.token_urlsafe(24)
    redirect_uri = f"{url}/connections/callback/sandbox-oauth2/"
    callback_uri = f"{url}/connections/callback/sandbox-oauth1/"
    services.ensure_client(
        client_id=OAUTH2_CLIENT_ID,
        client_secret=client_secret,
        redirect_uris=[redirect_uri],
        access_token_lifetime=access_token_lifetime,
        name="App Connections (test)",
    )
    services.ensure_oauth1_client(
        client_key=OAUTH1_CLIENT_KEY,
        client_secret=oauth1_secret,
        callback_uris=[callback_uri],
        name="App Connections (test)",
    )
    password = secrets.token_urlsafe(12)
    services.create_basic_account(BASIC_USERNAME, password, services.DEFAULT_EMAIL)
    switches.reset()
    switches.reset_counts()
    return SandboxHandle(
        url=url,
        client_id=OAUTH2_CLIENT_ID,
        client_secret=client_secret,
        redirect_uri=redirect_uri,
        oauth1_client_key=OAUTH1_CLIENT_KEY,
        oauth1_client_secret=oauth1_secret,
        oauth1_callback_uri=callback_uri,
        api_key=services.create_api_key(services.DEFAULT_EMAIL),
        basic=BasicLogin(BASIC_USERNAME, password),
    )
