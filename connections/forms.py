"""Every form of the dashboard: the connection window, rename, revoke, the list filters, the
publication request, API tokens and the tenant's webhook."""

from datetime import timedelta

from django import forms
from django.contrib.auth.forms import UserCreationForm
from django.utils import timezone
from django.utils.html import escape
from django.utils.safestring import mark_safe
from django.utils.translation import gettext_lazy as _

from . import outbound
from .auth import mode_for
from .models import Connection, ConnectionStatus, GlobalConnection, Role, TokenScope
from .selectors import connection_name_taken, token_connection_choices

FIELD_PREFIX = "field_"
HISTORY = "history"  # the list filter that shows revoked connections


def help_html(text: str) -> str:
    """Return a field's help as safe HTML: escaped, with `code` spans as <code> (no raw backticks)."""
    parts = str(text or "").split("`")
    if len(parts) % 2 == 0:  # an unpaired backtick stays as typed
        return escape(str(text or ""))
    return mark_safe("".join(  # noqa: S308 (every part is escaped)
        f"<code>{escape(part)}</code>" if index % 2 else escape(part) for index, part in enumerate(parts)
    ))


def _name_taken_message(app, name):
    return _("You already have a %(app)s connection named “%(name)s”. Choose another name.") % {
        "app": app.name,
        "name": name,
    }


class ConnectionWindowForm(forms.Form):
    """The connection window: name, the app's fields, scopes (OAuth2) and custom header/query rows.

    With `reauthorize=True` it serves the re-authorization of an existing connection: no name.
    """

    name = forms.CharField(label=_("Connection name"), max_length=120)

    def __init__(self, *args, tenant, app, oauth_client=None, connection=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.tenant = tenant
        self.app = app
        self.connection = connection
        self.field_keys = []
        self.secret_keys = []
        if connection is not None:
            del self.fields["name"]
        spec = app.spec or {}
        for spec_field in spec.get("fields") or []:
            key = spec_field["key"]
            secret = bool(spec_field.get("secret"))
            attrs = {"autocomplete": "off", "spellcheck": "false"}
            placeholder = spec_field.get("placeholder") or (
                f"e.g. {spec_field['example']}" if spec_field.get("example") else ""
            )
            if placeholder:
                attrs["placeholder"] = placeholder
            widget = forms.PasswordInput(attrs=attrs, render_value=False) if secret else forms.TextInput(attrs=attrs)
            initial = spec_field.get("default") if not secret else None
            if connection is not None and not secret:
                initial = (connection.config or {}).get(key, initial)
            required = spec_field.get("required", True) and not spec_field.get("optional", False)
            options = [(option["value"], option["label"]) for option in spec_field.get("enum") or []]
            common = {
                "label": spec_field.get("label") or key,
                "help_text": help_html(spec_field.get("help", "")),
                "required": required,
                "initial": initial,
            }
            if options and not secret:
                choices = options if required else [("", _("—")), *options]
                self.fields[FIELD_PREFIX + key] = forms.ChoiceField(choices=choices, **common)
            else:
                self.fields[FIELD_PREFIX + key] = forms.CharField(widget=widget, strip=not secret, **common)
            self.field_keys.append(key)
            if secret:
                self.secret_keys.append(key)
        mode = mode_for(app)
        self.has_scopes = mode.has_scopes
        if self.has_scopes:
            defaults, offered = mode.scopes_offered(app, oauth_client)
            choices = [(scope, scope) for scope in offered]
            if connection is not None and connection.scopes:
                defaults = list(connection.scopes)
                known = {value for value, _label in choices}
                choices += [(scope, scope) for scope in defaults if scope not in known]
            self.fields["scopes"] = forms.MultipleChoiceField(
                label=_("Scopes"),
                choices=choices,
                initial=defaults,
                required=False,
                widget=forms.CheckboxSelectMultiple,
            )
        self.is_custom = mode.takes_rows
        self.custom_headers = {}
        self.custom_query = {}
        self.rows_data = None  # the POST whose custom row names an unbound, refilled form shows

    def app_fields(self):
        """Return the bound fields of the app's spec fields, in order."""
        return [self[FIELD_PREFIX + key] for key in self.field_keys]

    def header_rows(self):
        """Return the custom header rows to render: names kept, values never echoed."""
        return self._rows("header") or [("", "")]

    def query_rows(self):
        return self._rows("query") or [("", "")]

    def _rows(self, kind):
        data = self.data if self.is_bound else self.rows_data
        names = data.getlist(f"{kind}_name") if hasattr(data, "getlist") else []
        return [(name, "") for name in names if name.strip()]

    def clean_name(self):
        name = self.cleaned_data["name"].strip()
        if connection_name_taken(tenant=self.tenant, app=self.app, name=name):
            raise forms.ValidationError(_name_taken_message(self.app, name))
        return name

    def clean(self):
        cleaned = super().clean()
        if self.is_custom and hasattr(self.data, "getlist"):
            self.custom_headers = self._parse_rows("header")
            self.custom_query = self._parse_rows("query")
        return cleaned

    def _parse_rows(self, kind):
        names = self.data.getlist(f"{kind}_name")
        values = self.data.getlist(f"{kind}_value")
        rows = {}
        for index, name in enumerate(names):
            name = name.strip()
            value = values[index] if index < len(values) else ""
            if not name and not value:
                continue
            if not name:
                self.add_error(None, _("Every header or query row with a value needs a name."))
                continue
            rows[name] = value
        return rows

    def field_values(self) -> dict:
        """Return the typed field values keyed by spec key (custom rows under headers/query)."""
        values = {}
        for key in self.field_keys:
            value = self.cleaned_data.get(FIELD_PREFIX + key)
            if value not in (None, ""):
                values[key] = value
        if self.is_custom:
            values["headers"] = dict(self.custom_headers)
            values["query"] = dict(self.custom_query)
        return values

    def selected_scopes(self) -> list:
        return list(self.cleaned_data.get("scopes") or []) if self.has_scopes else []


class RenameForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=120)

    def __init__(self, *args, connection, **kwargs):
        kwargs.setdefault("initial", {"name": connection.name})
        super().__init__(*args, **kwargs)
        self.connection = connection

    def clean_name(self):
        name = self.cleaned_data["name"].strip()
        connection = self.connection
        if connection_name_taken(tenant=connection.tenant, app=connection.app, name=name, exclude=connection):
            raise forms.ValidationError(_name_taken_message(connection.app, name))
        return name


class RevokeForm(forms.Form):
    confirm_shared = forms.BooleanField(
        label=_("I understand that the global copy of this connection keeps working until it is unpublished."),
        required=False,
    )

    def __init__(self, *args, shared=False, **kwargs):
        super().__init__(*args, **kwargs)
        self.shared = shared
        if shared:
            self.fields["confirm_shared"].required = True
        else:
            del self.fields["confirm_shared"]


class ConnectionFilterForm(forms.Form):
    """The list's filter bar: search by name, app and status (History shows revoked ones)."""

    STATUS_CHOICES = [
        ("", _("All live")),
        (ConnectionStatus.ACTIVE, ConnectionStatus.ACTIVE.label),
        (ConnectionStatus.EXPIRED, ConnectionStatus.EXPIRED.label),
        (ConnectionStatus.ERROR, ConnectionStatus.ERROR.label),
        (HISTORY, _("History (revoked)")),
    ]

    q = forms.CharField(label=_("Search"), required=False, max_length=120)
    app = forms.ChoiceField(label=_("App"), required=False)
    status = forms.ChoiceField(label=_("Status"), required=False, choices=STATUS_CHOICES)

    def __init__(self, *args, apps=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["app"].choices = [("", _("All apps"))] + [(app.slug, app.name) for app in apps]
        self.fields["q"].widget.attrs.update({"placeholder": _("Search by name"), "type": "search"})

    def value(self, name):
        self.is_valid()
        return self.cleaned_data.get(name) or ""


class PublicationRequestForm(forms.Form):
    reason = forms.CharField(
        label=_("Why should every company be able to use it?"),
        widget=forms.Textarea(attrs={"rows": 3}),
        max_length=2000,
        error_messages={"required": _("Give a reason: the reviewer reads it before approving.")},
    )


EXPIRY_CHOICES = [
    ("", "Never"), ("7", "In 7 days"), ("30", "In 30 days"), ("90", "In 90 days"), ("365", "In 1 year"),
]


class TokenCreateForm(forms.Form):
    name = forms.CharField(
        label="Name", max_length=120, help_text="What uses this token, e.g. “Billing flow”."
    )
    scopes = forms.MultipleChoiceField(
        label="Scopes", choices=TokenScope.choices, initial=[TokenScope.READ],
        widget=forms.CheckboxSelectMultiple,
        help_text="Give the token only what its flow needs.",
        error_messages={"required": "Choose at least one scope."},
    )
    expires_in = forms.TypedChoiceField(
        label="Expires", choices=EXPIRY_CHOICES, required=False, coerce=int, empty_value=None,
    )
    connections = forms.ModelMultipleChoiceField(
        label="Company connections", queryset=Connection.all_objects.none(), required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    global_connections = forms.ModelMultipleChoiceField(
        label="Global connections", queryset=GlobalConnection.objects.none(), required=False,
        widget=forms.CheckboxSelectMultiple,
    )

    def __init__(self, *args, tenant, **kwargs):
        super().__init__(*args, **kwargs)
        own, shared = token_connection_choices(tenant=tenant)
        self.fields["connections"].queryset = own
        self.fields["global_connections"].queryset = shared

    def token_options(self) -> dict:
        """Return api_token_create's options: None lists mean every connection."""
        data = self.cleaned_data
        days = data.get("expires_in")
        chosen = list(data.get("connections") or []), list(data.get("global_connections") or [])
        restricted = bool(chosen[0] or chosen[1])
        return {
            "scopes": data["scopes"],
            "expires_at": timezone.now() + timedelta(days=days) if days else None,
            "connections": chosen[0] if restricted else None,
            "global_connections": chosen[1] if restricted else None,
        }


class InviteForm(forms.Form):
    email = forms.EmailField(
        label=_("Email"), max_length=254, help_text=_("The invitation link is mailed here; it works once.")
    )
    role = forms.ChoiceField(label=_("Role"), choices=Role.choices, initial=Role.OPERATOR)


class MemberRoleForm(forms.Form):
    role = forms.ChoiceField(label=_("Role"), choices=Role.choices)


class InvitationSignupForm(UserCreationForm):
    """A new account for the person accepting an invitation, with the password they choose."""

    class Meta(UserCreationForm.Meta):
        fields = ("username",)


MAX_EXTRA_ALERT_EMAILS = 20


class AlertRecipientsForm(forms.Form):
    """Who gets status alerts: members (ticked) and extra addresses, one per line or comma."""

    members = forms.MultipleChoiceField(
        label=_("Members told"), required=False, widget=forms.CheckboxSelectMultiple
    )
    extra_emails = forms.CharField(
        label=_("Extra addresses"),
        required=False,
        max_length=5000,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("One per line (or separated by commas), e.g. a team list or an on-call address."),
    )

    def __init__(self, *args, members=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["members"].choices = [(str(m.pk), m.user.get_username()) for m in members]

    def clean_extra_emails(self) -> list[str]:
        text = self.cleaned_data.get("extra_emails") or ""
        emails, bad = [], []
        for item in text.replace(",", "\n").splitlines():
            item = item.strip()
            if not item:
                continue
            try:
                forms.EmailField().clean(item)
            except forms.ValidationError:
                bad.append(item)
            else:
                emails.append(item)
        if bad:
            raise forms.ValidationError(_("Not an email address: %(bad)s.") % {"bad": ", ".join(bad[:5])})
        if len(emails) > MAX_EXTRA_ALERT_EMAILS:
            raise forms.ValidationError(_("At most %(n)d extra addresses.") % {"n": MAX_EXTRA_ALERT_EMAILS})
        return list(dict.fromkeys(emails))


class WebhookForm(forms.Form):
    webhook_url = forms.URLField(
        label="Webhook URL", required=False, max_length=200, assume_scheme="https",
        help_text="We POST a signed JSON message here when a connection breaks or recovers.",
    )

    def clean_webhook_url(self):
        """An https address on a public network (or one OUTBOUND_ALLOW opens), as delivery requires."""
        url = self.cleaned_data["webhook_url"]
        if not url:
            return url
        try:
            return outbound.check_operator_url(url)
        except outbound.OutboundRefused as refused:
            raise forms.ValidationError(refused.message, code="unsafe") from None


class TenantOAuthClientForm(forms.Form):
    """A company's own OAuth client: client id and a write-only secret."""

    client_id = forms.CharField(label=_("Client id"), max_length=255)
    client_secret = forms.CharField(
        label=_("Client secret"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}, render_value=False),
        help_text=_("Stored encrypted in the vault; it is never shown again. Type it again to replace it."),
    )
