"""Forms of the study pages."""

from django import forms
from django.utils.translation import gettext_lazy as _

from studies.models import Membership, Study
from studies.services.membership import STUDY_SETTING_FIELDS

#: Labels and help of the study settings in a clinician's words (the form's, not the model's: no migration).
STUDY_LABELS = {
    "name": _("Study name"),
    "description": _("Description (optional)"),
    "measure_vbq": _("Measure the VBQ score"),
    "measure_snr": _("Measure SNR and M-score"),
    "roi_statistic": _("Signal intensity of an ROI"),
    "min_levels_vbq": _("Fewest vertebrae for a VBQ"),
    "noise_correction": _("Background noise for the SNR"),
    "same_slice_required": _("All ROIs on one slice"),
    "roi_area_min_mm2": _("Smallest expected ROI area (mm²)"),
    "roi_area_max_mm2": _("Largest expected ROI area (mm²)"),
    "consensus_rule": _("One score per case from"),
    "reader_roi_stats": _("ROI numbers shown to readers"),
    "reads_per_reader": _("Reads of each case per reader"),
    "washout_days": _("Washout between reads (days)"),
    "randomisation_seed": _("Randomisation seed"),
    "date_handling": _("Dates in the images"),
    "keep_subject_mapping": _("Keep the patient ID ↔ subject code key"),
}
STUDY_HELP = {
    "name": _("Shown to you and to the readers on their worklist."),
    "description": _("Aim, population, anything the study team should know."),
    "measure_vbq": _(
        "Vertebral bone quality score: median signal of the L1–L4 marrow divided by the signal of the "
        "cerebrospinal fluid at L3, on sagittal T1-weighted MRI. Readers draw an ROI in each vertebra and one "
        "in the CSF."
    ),
    "measure_snr": _(
        "Signal-to-noise ratio of the vertebrae against the background noise, and the M-score (the SNR "
        "compared with the young controls of the study). Readers also draw a noise ROI outside the body."
    ),
    "roi_statistic": _(
        "Which value of each ROI the scores use. The mean is what a PACS workstation shows; the median "
        "is less affected by a few very bright or dark pixels."
    ),
    "min_levels_vbq": _(
        "A VBQ is computed only when at least this many of L1–L4 were measured. Levels the reader "
        "excluded (fracture, hemangioma, hardware…) do not count."
    ),
    "noise_correction": _(
        "How the noise is taken from the background ROI: its raw standard deviation, as in the "
        "published SNR and M-score studies, or corrected for the noise distribution of magnitude MR images."
    ),
    "same_slice_required": _(
        "Readers must draw the vertebral and CSF ROIs on the same (mid-sagittal) slice; a read "
        "with ROIs on different slices cannot be submitted."
    ),
    "roi_area_min_mm2": _("An ROI smaller than this gets a warning for the reader (it does not stop submission)."),
    "roi_area_max_mm2": _(
        "An ROI larger than this gets a warning for the reader. Must be larger than the smallest area."
    ),
    "consensus_rule": _(
        "How the analyses combine several readers (and repeated reads) of the same case into one score."
    ),
    "reader_roi_stats": _(
        "What readers see of their own ROIs. “Quality” (recommended) shows size and warnings only. "
        "With “Full” a reader sees the signal values, could work out the VBQ and remember it at the second read. "
        "You always see everything."
    ),
    "reads_per_reader": _("2 means every reader reads every case twice, which intra-reader agreement needs (1 to 10)."),
    "washout_days": _(
        "Days between a reader finishing their first read and the second read opening, so that they do "
        "not remember their first ROIs (0 to 365)."
    ),
    "randomisation_seed": _(
        "A whole number that fixes each reader's random order of cases, so the order can be "
        "reproduced and reported. Keep the proposed value unless you need to repeat another study's order."
    ),
    "date_handling": _(
        "De-identification: shift all dates of a patient by the same random number of days (intervals "
        "between examinations are kept) or remove the dates."
    ),
    "keep_subject_mapping": _(
        "Keep the original patient ID (encrypted, visible to you only) to match later data such "
        "as reference results. Untick for fully anonymous data."
    ),
}


class StudyForm(forms.ModelForm):
    class Meta:
        model = Study
        fields = STUDY_SETTING_FIELDS
        widgets = {"description": forms.Textarea(attrs={"rows": 3})}
        labels = STUDY_LABELS
        help_texts = STUDY_HELP


class MemberAddForm(forms.Form):
    identifier = forms.CharField(
        label=_("Username or e-mail"),
        max_length=254,
        help_text=_("Someone new: give their e-mail address; they get a link to set their password."),
    )
    role = forms.ChoiceField(
        label=_("Role"),
        choices=Membership.Role.choices,
        initial=Membership.Role.READER,
        help_text=_("A reader reads their own worklist, blinded; a PI manages the study."),
    )
