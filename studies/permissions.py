"""Who may do what: study membership and role checks shared by pages and the API."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
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


def can_read(read: Read, user) -> bool:
    """Only the read's own reader works on it; the PI may look at it."""
    return read.reader_id == user.pk or is_pi(read.study_id, user)


class IsStudyPI(BasePermission):
    """Object permission: the user is PI of the object's study (``obj.study_id`` or a Study)."""

    message = "Only the study's PI can do this."

    def has_object_permission(self, request, view, obj) -> bool:
        study_id = obj.pk if isinstance(obj, Study) else obj.study_id
        return is_pi(study_id, request.user)
