"""Forms of the study pages."""

from django import forms

from studies.models import Membership, Study
from studies.services.membership import STUDY_SETTING_FIELDS


class StudyForm(forms.ModelForm):
    class Meta:
        model = Study
        fields = STUDY_SETTING_FIELDS
        widgets = {"description": forms.Textarea(attrs={"rows": 3})}


class MemberAddForm(forms.Form):
    identifier = forms.CharField(label="Username or e-mail", max_length=254)
    role = forms.ChoiceField(choices=Membership.Role.choices, initial=Membership.Role.READER)
