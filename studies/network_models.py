"""Hospital DICOM networking settings of a study (#19): the AE title its images are sent to, and its DICOMweb servers.

Imported at the end of :mod:`studies.models` (Django finds the models there). Credentials are stored encrypted
(:mod:`studies.services.dicom_network_secrets`); search results of a server are never stored.
"""

from __future__ import annotations

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

#: An AE title: 1 to 16 characters of the DICOM default character repertoire, no backslash or control
#: characters (PS3.5 §6.2, VR "AE"); leading and trailing spaces are not significant, so none are accepted.
AE_TITLE_VALIDATOR = RegexValidator(
    r"^[\x21-\x5b\x5d-\x7e]([\x20-\x5b\x5d-\x7e]{0,14}[\x21-\x5b\x5d-\x7e])?$",
    _(
        "An AE title is 1 to 16 letters, digits or symbols (no backslash, no leading or trailing spaces), "
        "e.g. VBQ_SPINE_01."
    ),
)


class DicomReceiver(models.Model):
    """The Called AE title a PACS or scanner sends a study's images to (the DICOM listener's study routing)."""

    study = models.OneToOneField("studies.Study", on_delete=models.CASCADE, related_name="dicom_receiver")
    ae_title = models.CharField(
        max_length=16,
        unique=True,
        validators=[AE_TITLE_VALIDATOR],
        help_text="Called AE title the PACS or scanner uses to send images to this study (unique on this server).",
    )
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.ae_title} → {self.study_id}"


class DicomWebServer(models.Model):
    """A DICOMweb server (QIDO-RS / WADO-RS) a study's PI pulls images from."""

    class Auth(models.TextChoices):
        NONE = "none", _("No authentication")
        BASIC = "basic", _("User name and password (HTTP Basic)")
        TOKEN = "token", _("Bearer token")

    study = models.ForeignKey("studies.Study", on_delete=models.CASCADE, related_name="dicomweb_servers")
    name = models.CharField(max_length=100, help_text="A name you recognise, e.g. 'Radiology PACS'.")
    url = models.URLField(
        max_length=500,
        help_text="Base URL of the DICOMweb service (the part before /studies), e.g. https://pacs.example.org/dicom-web",
    )
    auth = models.CharField(max_length=10, choices=Auth.choices, default=Auth.NONE)
    username = models.CharField(max_length=200, blank=True)
    secret_encrypted = models.TextField(blank=True, help_text="Password or token, encrypted (never shown again)")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name", "id"]
        constraints = [models.UniqueConstraint(fields=["study", "name"], name="dicomweb_server_unique_name")]

    def __str__(self) -> str:
        return f"{self.name} ({self.url})"
