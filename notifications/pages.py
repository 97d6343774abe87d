"""The e-mail settings page (each kind of e-mail on or off, the language) and the header's language switcher."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST
from django.views.i18n import set_language as django_set_language

from notifications.forms import PreferencesForm
from notifications.language import remember, supported
from notifications.models import NotificationPreference


@login_required
def preferences(request):
    prefs = NotificationPreference.objects.filter(user=request.user).first() or NotificationPreference(
        user=request.user
    )
    form = PreferencesForm(request.POST or None, instance=prefs)
    if request.method == "POST" and form.is_valid():
        form.save()
        remember(request, form.cleaned_data["language"])  # the next page is already in the chosen language
        messages.success(request, _("E-mail settings saved."))
        response = redirect("notification-preferences")
        if form.cleaned_data["language"]:
            _set_cookie(response, form.cleaned_data["language"])
        else:  # the browser's language again: forget the switcher's cookie too
            response.delete_cookie(settings.LANGUAGE_COOKIE_NAME, path=settings.LANGUAGE_COOKIE_PATH)
        return response
    return render(request, "notifications/preferences.html", {"form": form, "email": request.user.email})


@require_POST
def set_language(request):
    """Django's ``set_language`` (language cookie, back to ``next``); a logged-in user's choice is also saved."""
    response = django_set_language(request)
    code = supported(request.POST.get("language"))
    if code and request.user.is_authenticated:
        NotificationPreference.objects.update_or_create(user=request.user, defaults={"language": code})
        remember(request, code)
    return response


def _set_cookie(response, code: str) -> None:
    response.set_cookie(
        settings.LANGUAGE_COOKIE_NAME,
        code,
        max_age=settings.LANGUAGE_COOKIE_AGE,
        path=settings.LANGUAGE_COOKIE_PATH,
        domain=settings.LANGUAGE_COOKIE_DOMAIN,
        secure=settings.LANGUAGE_COOKIE_SECURE,
        httponly=settings.LANGUAGE_COOKIE_HTTPONLY,
        samesite=settings.LANGUAGE_COOKIE_SAMESITE,
    )
