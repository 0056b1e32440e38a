import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
application = get_wsgi_application()

from vault.checks import require_keyring  # noqa: E402  (needs the app registry)

require_keyring()
