"""The viewer's server-side words (protocol panel, exclusion reasons) in the reader's language; values unchanged."""

from __future__ import annotations

from django.utils import translation

from studies.models import Roi
from studies.protocol import PROTOCOLS
from studies.viewer_i18n import exclusion_reasons, protocol_panel


def _panel():
    protocol = next(iter(PROTOCOLS.values()))
    return protocol.viewer_config([spec.label for spec in protocol.rois])


def test_the_protocol_panel_in_chinese_keeps_labels_roles_and_tools():
    english = _panel()
    with translation.override("zh-hans"):
        chinese = protocol_panel(english)
    keys = [(e["label"], e["role"], e["tool"]) for e in english]
    assert [(e["label"], e["role"], e["tool"]) for e in chinese] == keys
    by_label = {e["label"]: e for e in chinese}
    assert by_label["CSF"]["name"] == "脑脊液" and by_label["NOISE"]["name"] == "噪声"
    assert by_label["L1"]["name"] == "L1" and "正中矢状位层面" in by_label["L1"]["help"]
    assert all(e["help"] != en["help"] for e, en in zip(chinese, english, strict=True)), "every help text translated"
    with translation.override("en-gb"):
        assert protocol_panel(english) == english


def test_exclusion_reasons_translated_values_unchanged():
    with translation.override("zh-hans"):
        reasons = exclusion_reasons()
    assert [r["value"] for r in reasons] == list(Roi.ExclusionReason.values)
    assert [r["label"] for r in reasons] == ["骨折", "血管瘤", "内固定物", "许莫氏结节", "其他"]
    assert dict(Roi.ExclusionReason.choices)["fracture"] == "Fracture"  # stored/SR wording stays English
