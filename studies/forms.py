"""Forms of the study pages."""

from django import forms

from studies.models import Membership, Study
from studies.services.membership import STUDY_SETTING_FIELDS

#: Labels and help of the study settings in a clinician's words (the form's, not the model's: no migration).
STUDY_LABELS = {
    "name": "Study name",
    "description": "Description (optional)",
    "measure_vbq": "Measure the VBQ score",
    "measure_snr": "Measure SNR and M-score",
    "roi_statistic": "Signal intensity of an ROI",
    "min_levels_vbq": "Fewest vertebrae for a VBQ",
    "noise_correction": "Background noise for the SNR",
    "same_slice_required": "All ROIs on one slice",
    "roi_area_min_mm2": "Smallest expected ROI area (mm²)",
    "roi_area_max_mm2": "Largest expected ROI area (mm²)",
    "consensus_rule": "One score per case from",
    "reader_roi_stats": "ROI numbers shown to readers",
    "reads_per_reader": "Reads of each case per reader",
    "washout_days": "Washout between reads (days)",
    "randomisation_seed": "Randomisation seed",
    "date_handling": "Dates in the images",
    "keep_subject_mapping": "Keep the patient ID ↔ subject code key",
}
STUDY_HELP = {
    "name": "Shown to you and to the readers on their worklist.",
    "description": "Aim, population, anything the study team should know.",
    "measure_vbq": "Vertebral bone quality score: median signal of the L1–L4 marrow divided by the signal of the "
    "cerebrospinal fluid at L3, on sagittal T1-weighted MRI. Readers draw an ROI in each vertebra and one in the CSF.",
    "measure_snr": "Signal-to-noise ratio of the vertebrae against the background noise, and the M-score (the SNR "
    "compared with the young controls of the study). Readers also draw a noise ROI outside the body.",
    "roi_statistic": "Which value of each ROI the scores use. The mean is what a PACS workstation shows; the median "
    "is less affected by a few very bright or dark pixels.",
    "min_levels_vbq": "A VBQ is computed only when at least this many of L1–L4 were measured. Levels the reader "
    "excluded (fracture, hemangioma, hardware…) do not count.",
    "noise_correction": "How the noise is taken from the background ROI: its raw standard deviation, as in the "
    "published SNR and M-score studies, or corrected for the noise distribution of magnitude MR images.",
    "same_slice_required": "Readers must draw the vertebral and CSF ROIs on the same (mid-sagittal) slice; a read "
    "with ROIs on different slices cannot be submitted.",
    "roi_area_min_mm2": "An ROI smaller than this gets a warning for the reader (it does not stop submission).",
    "roi_area_max_mm2": "An ROI larger than this gets a warning for the reader. Must be larger than the smallest area.",
    "consensus_rule": "How the analyses combine several readers (and repeated reads) of the same case into one score.",
    "reader_roi_stats": "What readers see of their own ROIs. “Quality” (recommended) shows size and warnings only. "
    "With “Full” a reader sees the signal values, could work out the VBQ and remember it at the second read. "
    "You always see everything.",
    "reads_per_reader": "2 means every reader reads every case twice, which intra-reader agreement needs (1 to 10).",
    "washout_days": "Days between a reader finishing their first read and the second read opening, so that they do "
    "not remember their first ROIs (0 to 365).",
    "randomisation_seed": "A whole number that fixes each reader's random order of cases, so the order can be "
    "reproduced and reported. Keep the proposed value unless you need to repeat another study's order.",
    "date_handling": "De-identification: shift all dates of a patient by the same random number of days (intervals "
    "between examinations are kept) or remove the dates.",
    "keep_subject_mapping": "Keep the original patient ID (encrypted, visible to you only) to match later data such "
    "as reference results. Untick for fully anonymous data.",
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
        label="Username or e-mail",
        max_length=254,
        help_text="Someone new: give their e-mail address; they get a link to set their password.",
    )
    role = forms.ChoiceField(
        label="Role",
        choices=Membership.Role.choices,
        initial=Membership.Role.READER,
        help_text="A reader reads their own worklist, blinded; a PI manages the study.",
    )
