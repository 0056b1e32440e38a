import uuid

from django.db import models
from django.utils.translation import gettext_lazy as _


class Secret(models.Model):
    """An encrypted payload. Plaintext never reaches this table."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    purpose = models.CharField(_("purpose"), max_length=64)
    key_id = models.CharField(_("key id"), max_length=32, db_index=True)
    ciphertext = models.BinaryField(_("ciphertext"))  # 12-byte nonce + AES-GCM output
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("secret")
        verbose_name_plural = _("secrets")

    def __str__(self):
        return f"Secret {self.id} ({self.purpose}, key {self.key_id})"

    def __repr__(self):
        return f"<Secret {self.id} purpose={self.purpose!r} key_id={self.key_id!r}>"
