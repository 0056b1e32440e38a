"""Typed request and response bodies of the JSON API (what /api/openapi.json publishes).

Every text a caller sends is a `Text`: bounded, and free of NUL characters and unpaired
surrogates (PostgreSQL and UTF-8 refuse both), so bad input is a 400 before any service runs.
"""

import uuid
from datetime import datetime
from enum import Enum
from typing import Annotated, Any, Literal

from ninja import Schema
from pydantic import (
    AfterValidator,
    BaseModel,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from ..models import ConnectionStatus
from .parser import FORBIDDEN_CHARACTERS, FORBIDDEN_MESSAGE


def _clean(value: str) -> str:
    if FORBIDDEN_CHARACTERS.search(value):
        raise ValueError(FORBIDDEN_MESSAGE)
    return value


def Text(max_length: int, min_length: int = 0):  # noqa: N802 - reads like a type
    """Return the type of a caller's text of at most max_length characters."""
    return Annotated[
        str, StringConstraints(min_length=min_length, max_length=max_length), AfterValidator(_clean)
    ]


# --------------------------------------------------------------------------------------------
# Requests (plain pydantic models: ninja's Schema reads Django objects, requests are JSON)


class Row(BaseModel):
    name: Text(200)
    value: Text(8000) = ""


class AttemptIn(BaseModel):
    """Start an attempt: link an account of an app."""

    app: Text(64, min_length=1) = Field(description="The app's slug in the catalog, e.g. `slack`.")
    name: Text(200) = Field(
        "", description="The connection's name; prefilled like the window when empty."
    )
    scopes: list[Text(200)] | None = Field(
        None,
        max_length=50,
        description="OAuth2 scopes to request: a list, or one string split at spaces/commas.",
    )
    fields: dict[Text(64), Text(8000)] = Field(
        default_factory=dict,
        max_length=50,
        description="The app's typed fields by key (API key, subdomain, username, password…).",
    )
    headers: list[Row] | None = Field(
        None,
        max_length=50,
        description=(
            "Custom REST API only: header rows, as `[{name, value}]`, `[[name, value]]` or "
            "`{name: value}`."
        ),
    )
    query: list[Row] | None = Field(
        None,
        max_length=50,
        description="Custom REST API only: query parameter rows, shaped like `headers`.",
    )

    @model_validator(mode="before")
    @classmethod
    def _rows_from_fields(cls, data: Any) -> Any:
        # The connection window sends custom rows inside `fields`; accept them there too.
        if isinstance(data, dict) and isinstance(data.get("fields"), dict):
            fields = dict(data["fields"])
            data = dict(data)
            for key in ("headers", "query"):
                if key in fields:
                    value = fields.pop(key)
                    data.setdefault(key, value)
            data["fields"] = fields
        return data

    @field_validator("scopes", mode="before")
    @classmethod
    def _scope_words(cls, value: Any) -> Any:
        if isinstance(value, str):
            return value.replace(",", " ").split()
        if value is not None and not isinstance(value, list):
            raise ValueError("Give scopes as a list of names, or one string of names.")
        return value

    @field_validator("fields", mode="before")
    @classmethod
    def _field_texts(cls, value: Any) -> Any:
        if not isinstance(value, dict):
            raise ValueError("Give fields as an object of field key → value.")
        texts = {}
        for key, item in value.items():
            if item is None:
                continue
            if isinstance(item, bool):
                item = "true" if item else "false"
            elif isinstance(item, (int, float)):
                item = str(item)
            elif not isinstance(item, str):
                raise ValueError(f"The value of “{str(key)[:40]}” must be text.")
            texts[key] = item
        return texts

    @field_validator("headers", "query", mode="before")
    @classmethod
    def _rows(cls, value: Any) -> Any:
        if value is None:
            return None
        if isinstance(value, dict):
            return [{"name": name, "value": row_value} for name, row_value in value.items()]
        if not isinstance(value, list):
            raise ValueError("Give rows as [{name, value}], [[name, value]] or {name: value}.")
        rows = []
        for row in value:
            if isinstance(row, list) and len(row) == 2:
                row = {"name": row[0], "value": row[1]}
            if not isinstance(row, dict):
                raise ValueError('Each row is {"name": …, "value": …} or a [name, value] pair.')
            rows.append(row)
        return rows

    def field_values(self) -> dict:
        """Return the typed values as attempt_start takes them (custom rows under headers/query)."""
        values = dict(self.fields)
        for key in ("headers", "query"):
            rows = getattr(self, key)
            if rows is not None:
                values[key] = {row.name: row.value for row in rows}
        return values


class RenameIn(BaseModel):
    name: Text(200, min_length=1) = Field(description="The new name, unique per company and app.")


class RevokeIn(BaseModel):
    confirm_shared: bool = Field(
        False,
        description="Revoke although a global connection shares the grant; the copy keeps working.",
    )


class Kind(str, Enum):
    TENANT = "tenant"
    GLOBAL = "global"


class ListQuery(BaseModel):
    app: Text(64) | None = Field(None, description="Only connections of this app (its slug).")
    status: ConnectionStatus | None = Field(
        None, description="Only this status; revoked ones appear only when asked."
    )
    q: Text(200) | None = Field(None, description="Search in names, accounts and app names.")
    kind: Kind | None = Field(None, description="`tenant` or `global`; both when absent.")
    page: int = Field(1, ge=1, le=1_000_000)
    page_size: int = Field(25, ge=1, description="1–100; larger values are capped at 100.")


class CredentialsQuery(BaseModel):
    consumer: Text(200) | None = Field(
        None, description="Who uses the credentials (recorded); the token's name when absent."
    )


# --------------------------------------------------------------------------------------------
# Responses


class ErrorExplained(Schema):
    code: str
    message: str
    title: str
    cause: str
    remedy: str


class AppOut(Schema):
    slug: str
    name: str
    auth_mode: str


class ConnectionOut(Schema):
    id: uuid.UUID
    kind: Kind
    name: str
    app: AppOut
    status: ConnectionStatus
    status_label: str
    account_label: str
    scopes: list[str]
    authorized_at: datetime | None
    expires_at: datetime | None
    last_checked_at: datetime | None
    last_refreshed_at: datetime | None
    revoked_at: datetime | None
    created_at: datetime | None
    last_error: ErrorExplained | None
    read_only: bool


class ConnectionPage(Schema):
    count: int
    page: int
    pages: int
    page_size: int
    results: list[ConnectionOut]


class AttemptOut(Schema):
    id: uuid.UUID
    status: Literal["pending", "succeeded", "failed", "abandoned"]
    app: str
    name: str
    scopes: list[str]
    reauthorization: bool
    account_label: str
    awaiting_account_confirmation: bool
    created_at: datetime | None
    expires_at: datetime | None
    completed_at: datetime | None
    connection: ConnectionOut | uuid.UUID | None = Field(
        description="The connection's id, or the connection itself once the attempt succeeded."
    )
    error: ErrorExplained | None
    authorize_url: str | None = Field(
        None, description="OAuth apps: send the person here to authorize."
    )


class ErrorBody(Schema):
    code: str = Field(description="A stable machine-readable code, e.g. `insufficient_scope`.")
    message: str = Field(description="What went wrong and what to do, for people.")
    fields: dict[str, list[str]] | None = Field(
        None, description="`invalid` only: messages per input field."
    )
    required_scope: str | None = Field(
        None, description="`insufficient_scope` only: the scope needed."
    )


class ErrorOut(Schema):
    error: ErrorBody


class AttemptFailedOut(Schema):
    error: ErrorBody
    attempt: AttemptOut


class CheckOut(Schema):
    ok: bool
    checked_at: datetime | None
    duration_ms: int
    connection: ConnectionOut


class CheckFailedOut(CheckOut):
    error: ErrorBody


class CredentialsOut(Schema):
    connection: ConnectionOut
    credentials: dict[str, Any] = Field(
        description="Fresh credentials: access token, key…, never a refresh token or client secret."
    )


class RevokeOut(Schema):
    connection: ConnectionOut
    revocation_warning: str = Field(description="Why revoking at the provider failed, or empty.")
