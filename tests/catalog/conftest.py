import textwrap

import pytest


@pytest.fixture
def write_provider(tmp_path):
    """Write a provider file under tmp_path and return its path."""

    def write(name, text):
        path = tmp_path / name
        path.write_text(textwrap.dedent(text))
        return path

    return write


APP_YAML = """
- slug: {slug}
  name: {name}
  category: crm
  description: Test app.
  docs_url: https://example.com/docs
  auth: api_key
  base_url: https://api.example.com/v1
  fields:
    - {{key: api_key, label: API key, secret: true}}
  apply: {{headers: {{Authorization: "Bearer {{api_key}}"}}}}
  test: {{method: GET, path: /me, account: user.email}}
"""


@pytest.fixture
def app_yaml():
    def make(slug="acme-crm", name="Acme CRM"):
        return APP_YAML.format(slug=slug, name=name)

    return make
