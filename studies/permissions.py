"""Who may do what: study membership and role checks shared by pages and the API."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core.exceptions import PermissionDenied
from django.http import Http404
from rest_framework.permissions import BasePermission

from .models import Membership, Read, Study


def study_role(study: Study | int, user: AbstractBaseUser | AnonymousUser) -> str | None:
    """The user's role in the study ('pi' or 'reader'), or None for non-members and anonymous users."""
    if not user.is_authenticated:
        return None
    study_id = study.pk if isinstance(study, Study) else study
    return Membership.objects.filter(study_id=study_id, user=user).values_list("role", flat=True).first()


def is_pi(study: Study | int, user) -> bool:
    return study_role(study, user) == Membership.Role.PI


PI_ONLY = "Only the study's PI can do this."

#: Who may create a study (and so become its PI): users an admin granted "Can add study" (studies | study) in
#: /admin/, directly or through a group; superusers always.
CREATE_STUDY_PERMISSION = "studies.add_study"
CREATE_STUDY_REFUSED = (
    "Your account may not create studies: an admin grants that (the “studies | study | Can add study” "
    "permission in /admin/)."
)


def may_create_study(user) -> bool:
    return bool(user.is_authenticated and user.has_perm(CREATE_STUDY_PERMISSION))


def require_study_creator(user) -> None:
    """403 unless an admin allowed ``user`` to create studies (pages and API)."""
    if not may_create_study(user):
        raise PermissionDenied(CREATE_STUDY_REFUSED)


def study_for_member(user, study_id: int | str) -> tuple[Study, str]:
    """The study and the user's role in it; 404 for anyone who is not a member (no existence leak)."""
    study = Study.objects.filter(pk=study_id).first() if str(study_id).isdigit() else None
    role = study_role(study, user) if study is not None else None
    if role is None:
        raise Http404("No such study.")
    return study, role


def study_for_pi(user, study_id: int | str, *, message: str = PI_ONLY) -> Study:
    """The study when ``user`` is its PI: 404 for non-members, 403 for its readers.

    Django's ``Http404``/``PermissionDenied`` are raised, which both the pages and DRF (its default
    exception handler) turn into 404/403 — one guard for pages and the API.
    """
    study, role = study_for_member(user, study_id)
    if role != Membership.Role.PI:
        raise PermissionDenied(message)
    return study


def require_pi(study: Study | int, user, *, message: str = PI_ONLY) -> None:
    """403 unless ``user`` is the PI of ``study`` (already known to be visible to them)."""
    if not is_pi(study, user):
        raise PermissionDenied(message)


def can_read(read: Read, user) -> bool:
    """Only the read's own reader works on it; the PI may look at it."""
    return read.reader_id == user.pk or is_pi(read.study_id, user)


class IsStudyPI(BasePermission):
    """Object permission: the user is PI of the object's study (``obj.study_id`` or a Study)."""

    message = "Only the study's PI can do this."

    def has_object_permission(self, request, view, obj) -> bool:
        study_id = obj.pk if isinstance(obj, Study) else obj.study_id
        return is_pi(study_id, request.user)
