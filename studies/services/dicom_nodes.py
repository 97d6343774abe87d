"""A study's DICOM networking settings, changed by its PI (#19): the Called AE title, the DICOMweb servers.

Every change is audited (never a password or token). The rules are the models' validators plus: an AE title is
unique on this server (it chooses the study), a server's name is unique in its study, a password or token is
required for the authentication that needs one and is stored encrypted (:func:`dicomweb_pull.encrypt_secret`), and
the server's address is one this server may connect to (:func:`remote_urls.url_refusal`: no loopback, link-local or
cloud metadata address, no credentials in the URL).
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from studies.models import DicomReceiver, DicomWebServer, Study

from .audit import audit_log
from .dicom_listener import listener_settings
from .dicomweb_pull import encrypt_secret
from .remote_urls import url_refusal

AE_TAKEN = gettext_noop("%(title)s is already used by another study on this server.")


def listener_address() -> dict:
    """What a PACS administrator needs besides the study's AE title: the listener's port and own AE title."""
    conf = listener_settings()
    return {"port": conf["port"], "ae_title": conf["ae_title"]}


def receiver_set(*, study: Study, ae_title: str, user) -> DicomReceiver:
    """Set (or change) the Called AE title that sends images to ``study``."""
    title = (ae_title or "").strip()
    if title == listener_settings()["ae_title"]:
        raise ValidationError(
            {
                "ae_title": _("%(title)s is the listener's own AE title (C-ECHO only): choose another.")
                % {"title": title}
            }
        )
    receiver = DicomReceiver.objects.filter(study=study).first() or DicomReceiver(study=study, created_by=user)
    previous = receiver.ae_title
    receiver.ae_title = title
    try:
        receiver.full_clean(exclude=["study", "created_by"])
    except ValidationError as exc:
        # by the error's code, not its words: Django's own message is in the page's language
        if any(error.code == "unique" for error in exc.error_dict.get("ae_title", [])):
            raise ValidationError({"ae_title": _(AE_TAKEN) % {"title": title}}) from exc
        raise
    try:
        with transaction.atomic():
            receiver.save()
    except IntegrityError as exc:  # another study took it meanwhile
        raise ValidationError({"ae_title": _(AE_TAKEN) % {"title": title}}) from exc
    audit_log(
        study=study,
        user=user,
        action="dicom.receiver_set",
        obj=receiver,
        data={"ae_title": title, "previous": previous},
    )
    return receiver


def receiver_clear(*, study: Study, user) -> None:
    """Stop receiving images for ``study`` (its AE title is refused from now on)."""
    deleted, _ = DicomReceiver.objects.filter(study=study).delete()
    if deleted:
        audit_log(study=study, user=user, action="dicom.receiver_clear", obj=study)


def server_add(
    *, study: Study, name: str, url: str, auth: str = "none", username: str = "", secret: str = "", user
) -> DicomWebServer:
    """Register a DICOMweb server for ``study`` (its secret stored encrypted)."""
    server = DicomWebServer(
        study=study,
        name=(name or "").strip(),
        url=(url or "").strip(),
        auth=auth or "none",
        username=(username or "").strip(),
        created_by=user,
    )
    errors: dict[str, list[str]] = {}
    try:
        server.full_clean(exclude=["study", "created_by", "secret_encrypted"])
    except ValidationError as exc:
        errors.update(exc.message_dict)
    if "url" not in errors and (refused := url_refusal(server.url)):
        errors["url"] = [refused]
    if server.auth == DicomWebServer.Auth.BASIC and not server.username:
        errors.setdefault("username", []).append(_("Enter the user name for HTTP Basic authentication."))
    if server.auth != DicomWebServer.Auth.NONE and not secret:
        wanted = _("Enter the password.") if server.auth == DicomWebServer.Auth.BASIC else _("Enter the token.")
        errors.setdefault("secret", []).append(wanted)
    if server.name and DicomWebServer.objects.filter(study=study, name=server.name).exists():
        errors.setdefault("name", []).append(_("This study already has a DICOMweb server of that name."))
    if errors:
        raise ValidationError(errors)
    server.secret_encrypted = encrypt_secret(secret) if server.auth != DicomWebServer.Auth.NONE else ""
    server.save()
    audit_log(
        study=study,
        user=user,
        action="dicomweb.server_add",
        obj=server,
        data={"name": server.name, "url": server.url, "auth": server.auth},
    )
    return server


def server_delete(*, server: DicomWebServer, user) -> None:
    audit_log(study=server.study, user=user, action="dicomweb.server_delete", obj=server, data={"name": server.name})
    server.delete()
