"""The e-mail preferences page: every user turns each kind of e-mail on or off."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render

from notifications.forms import PreferencesForm
from notifications.models import NotificationPreference


@login_required
def preferences(request):
    prefs = NotificationPreference.objects.filter(user=request.user).first() or NotificationPreference(
        user=request.user
    )
    form = PreferencesForm(request.POST or None, instance=prefs)
    if request.method == "POST" and form.is_valid():
        form.save()
        messages.success(request, "E-mail settings saved.")
        return redirect("notification-preferences")
    return render(request, "notifications/preferences.html", {"form": form, "email": request.user.email})
