from django import forms

from notifications.models import NotificationPreference


class PreferencesForm(forms.ModelForm):
    """One checkbox per kind of e-mail (labels and help texts from :mod:`notifications.kinds`) and the language."""

    class Meta:
        model = NotificationPreference
        fields = ["read_opened", "read_changed", "daily_digest", "language"]
