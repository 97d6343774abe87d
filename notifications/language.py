"""The language a user reads VBQ Reader in: their own choice first, then the browser's.

Order, per request: the language saved on the user's settings page (kept in the session from login on, so no
query per request), else the language cookie set by the header switcher, else the browser's ``Accept-Language``
(both handled by Django's ``LocaleMiddleware``), else ``LANGUAGE_CODE``. E-mails sent by the app use the
recipient's saved language (``email_language`` of :func:`notifications.mail.users_by_id`), or ``LANGUAGE_CODE``
when they chose none.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.signals import user_logged_in
from django.dispatch import receiver
from django.utils import translation

from notifications.models import NotificationPreference

SESSION_KEY = "vbq_language"


def supported(code: str | None) -> str | None:
    """``code`` if it is one of ``settings.LANGUAGES``, else None."""
    return code if code in dict(settings.LANGUAGES) else None


class UserLanguageMiddleware:
    """Activate the logged-in user's saved language (after ``LocaleMiddleware`` chose the browser's)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        session = getattr(request, "session", None)
        # Only a request that carries a session cookie can hold a choice: no session load for the others.
        code = supported(session.get(SESSION_KEY)) if session is not None and session.session_key else None
        if code:
            translation.activate(code)
            request.LANGUAGE_CODE = code
        return self.get_response(request)


def remember(request, code: str) -> None:
    """Use ``code`` for this user's session from now on (or the browser's language when ``code`` is empty)."""
    code = supported(code)
    if code:
        request.session[SESSION_KEY] = code
        translation.activate(code)
        request.LANGUAGE_CODE = code
    else:
        request.session.pop(SESSION_KEY, None)


@receiver(user_logged_in, dispatch_uid="notifications.language.on_login")
def _on_login(sender, request, user, **kwargs):
    if request is None or not hasattr(request, "session"):
        return
    code = NotificationPreference.objects.filter(user=user).values_list("language", flat=True).first()
    if code:
        remember(request, code)
