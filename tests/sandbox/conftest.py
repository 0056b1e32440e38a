import base64
import hashlib
import secrets

import pytest


@pytest.fixture(autouse=True)
def loopback_oauth(monkeypatch):
    """Let requests-oauthlib talk OAuth2 to the sandbox over plain http on loopback."""
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")


@pytest.fixture
def pkce():
    """Return a fresh (verifier, S256 challenge) pair."""
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
    return verifier, challenge
