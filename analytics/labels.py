"""The dashboard's tab names and page headings, marked for translation (issue #18).

``analytics.pages`` keeps them as plain English strings (keys of the pages); the templates translate them with
``{% translate tab.title %}``. This module only lists them so that ``makemessages`` puts them in the catalogue.
Statistical tables, figures and CSV column names stay English (they go into manuscripts).
"""

from django.utils.translation import gettext_noop

DASHBOARD_TITLES = (
    gettext_noop("Analytics"),
    gettext_noop("Progress"),
    gettext_noop("Agreement"),
    gettext_noop("Table 1"),
    gettext_noop("Groups"),
    gettext_noop("ROC"),
    gettext_noop("Correlation"),
    gettext_noop("Exports"),
)
