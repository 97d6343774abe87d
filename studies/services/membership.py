"""Studies and their members."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.tokens import default_token_generator
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.core.validators import validate_email
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode
from django.utils.translation import gettext as _

from studies import events
from studies.models import Membership, Study

from .audit import audit_log

User = get_user_model()

STUDY_SETTING_FIELDS = (
    "name",
    "description",
    "measure_vbq",
    "measure_snr",
    "roi_statistic",
    "min_levels_vbq",
    "noise_correction",
    "same_slice_required",
    "roi_area_min_mm2",
    "roi_area_max_mm2",
    "consensus_rule",
    "reader_roi_stats",
    "reads_per_reader",
    "washout_days",
    "randomisation_seed",
    "date_handling",
    "keep_subject_mapping",
)


class StudyLocked(ValidationError):
    def __init__(self) -> None:
        super().__init__("This study is locked: its data can no longer be changed.")


def study_create(*, name: str, created_by, **fields) -> Study:
    """Create a study; its creator becomes its PI."""
    unknown = set(fields) - set(STUDY_SETTING_FIELDS)
    if unknown:
        raise ValidationError(f"Unknown study setting(s): {', '.join(sorted(unknown))}")
    with transaction.atomic():
        study = Study(name=name, created_by=created_by, **fields)
        study.full_clean()
        study.save()
        Membership.objects.create(study=study, user=created_by, role=Membership.Role.PI)
        audit_log(study=study, user=created_by, action="study.create", obj=study, data={"name": name})
    return study


def study_update(*, study: Study, user, **fields) -> Study:
    """Change a study's settings (PI only; checked by the caller). Every change is audited."""
    if study.locked:
        raise StudyLocked()
    changed = {}
    for key, value in fields.items():
        if key not in STUDY_SETTING_FIELDS:
            raise ValidationError(f"Unknown study setting: {key}")
        if getattr(study, key) != value:
            changed[key] = [getattr(study, key), value]
            setattr(study, key, value)
    if changed:
        with transaction.atomic():
            study.full_clean()
            study.save()
            audit_log(study=study, user=user, action="study.update", obj=study, data={"changed": changed})
            events.announce(events.study_settings_changed, study_id=study.pk, fields=sorted(changed))
    return study


def study_lock(*, study: Study, user) -> Study:
    """Lock the study: no more edits; the analysis snapshot is built now and then frozen."""
    if not study.locked:
        study.locked = True
        study.locked_at = timezone.now()
        study.save(update_fields=["locked", "locked_at"])
        audit_log(study=study, user=user, action="study.lock", obj=study)
        events.announce(events.study_locked, study_id=study.pk)
    return study


@dataclass(frozen=True)
class MemberAdded:
    membership: Membership
    user_created: bool
    set_password_url: str | None


def set_password_url(user) -> str:
    uid = urlsafe_base64_encode(force_bytes(user.pk))
    token = default_token_generator.make_token(user)
    return settings.SITE_URL.rstrip("/") + reverse("password-set", kwargs={"uidb64": uid, "token": token})


def member_add(*, study: Study, identifier: str, role: str, added_by) -> MemberAdded:
    """Add a user (by username or e-mail) to the study with ``role``.

    An unknown e-mail address creates an account without a usable password and mails a one-time
    set-password link (console backend by default).
    """
    identifier = (identifier or "").strip()
    if role not in Membership.Role.values:
        raise ValidationError(_("Role must be one of: %(roles)s.") % {"roles": ", ".join(Membership.Role.values)})
    if not identifier:
        raise ValidationError(_("Give a username or an e-mail address."))
    user = User.objects.filter(username__iexact=identifier).first() or (
        User.objects.filter(email__iexact=identifier).first() if "@" in identifier else None
    )
    created = False
    with transaction.atomic():
        if user is None:
            if "@" not in identifier:
                raise ValidationError(
                    _("No account named “%(name)s”. To invite someone new, give their e-mail address.")
                    % {"name": identifier}
                )
            validate_email(identifier)
            username = identifier.split("@")[0][:120]
            base, n = username, 1
            while User.objects.filter(username__iexact=username).exists():
                n += 1
                username = f"{base}{n}"
            user = User(username=username, email=identifier)
            user.set_unusable_password()
            user.save()
            created = True
        membership, new = Membership.objects.get_or_create(study=study, user=user, defaults={"role": role})
        if not new and membership.role != role:
            membership.role = role
            membership.save(update_fields=["role"])
        audit_log(
            study=study,
            user=added_by,
            action="member.add",
            obj=membership,
            data={"username": user.username, "role": role, "account_created": created},
        )
    url = None
    if created:
        url = set_password_url(user)
        # In the language of the PI's page (the new user has chosen none yet).
        send_mail(
            subject=_("You have been invited to the VBQ Reader study “%(study)s”") % {"study": study.name},
            message=_(
                "%(pi)s added you to the study “%(study)s” as %(role)s.\n\nYour username is %(username)s. "
                "Choose a password here (the link works once):\n%(url)s\n"
            )
            % {
                "pi": added_by.get_username(),
                "study": study.name,
                "role": membership.get_role_display(),
                "username": user.username,
                "url": url,
            },
            from_email=None,
            recipient_list=[user.email],
        )
    return MemberAdded(membership=membership, user_created=created, set_password_url=url)


def member_remove(*, membership: Membership, removed_by) -> None:
    study = membership.study
    if membership.role == Membership.Role.PI and study.memberships.filter(role=Membership.Role.PI).count() == 1:
        raise ValidationError("A study needs at least one PI; add another PI before removing this one.")
    audit_log(
        study=study,
        user=removed_by,
        action="member.remove",
        obj=membership,
        data={"username": membership.user.get_username(), "role": membership.role},
    )
    membership.delete()
