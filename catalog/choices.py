"""The catalog's vocabularies: how an app authenticates, and the categories of the picker."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class AuthMode(models.TextChoices):
    OAUTH2 = "oauth2", _("OAuth 2.0")
    OAUTH1 = "oauth1", _("OAuth 1.0a")
    API_KEY = "api_key", _("API key")
    BASIC = "basic", _("Username and password")
    CUSTOM = "custom", _("Custom REST API")
    OAUTH2_CLIENT_CREDENTIALS = "oauth2_client_credentials", _("OAuth 2.0 client credentials")


class Category(models.TextChoices):
    CRM = "crm", _("CRM")
    COMMUNICATION = "communication", _("Communication")
    EMAIL = "email", _("Email")
    PRODUCTIVITY = "productivity", _("Productivity")
    STORAGE = "storage", _("Storage")
    DEVELOPER_TOOLS = "developer-tools", _("Developer tools")
    E_COMMERCE = "e-commerce", _("E-commerce")
    CUSTOMER_SUPPORT = "customer-support", _("Customer support")
    MARKETING = "marketing", _("Marketing")
    PAYMENTS = "payments", _("Payments")
    DOCUMENTS = "documents", _("Documents")
    CUSTOM = "custom", _("Custom")
    SANDBOX = "sandbox", _("Sandbox")
