from django.urls import path

from . import pages

urlpatterns = [
    path("account/email/", pages.preferences, name="notification-preferences"),
    path("i18n/setlang/", pages.set_language, name="set-language"),
]
