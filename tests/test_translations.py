"""The Simplified Chinese catalogue is complete, compiled and in step with the sources (issue #18 point 7).

- every msgid of ``locale/zh_Hans/LC_MESSAGES/django.po`` has a translation: no empty msgstr, no "fuzzy";
- each translation keeps the placeholders of its msgid (``%(name)s``; a missing one would raise at runtime);
- the compiled ``django.mo`` (bin/vbq setup / the image build it) holds exactly the .po's translations;
- every ``{% translate "…" %}`` of the templates is in the catalogue (``makemessages`` was re-run).
"""

from __future__ import annotations

import gettext
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PO = ROOT / "locale" / "zh_Hans" / "LC_MESSAGES" / "django.po"
MO = PO.with_suffix(".mo")
_ESCAPES = {"n": "\n", "t": "\t", '"': '"', "\\": "\\"}


def _unescape(s: str) -> str:
    return re.sub(r"\\(.)", lambda m: _ESCAPES[m.group(1)], s)


def po_entries(path: Path = PO) -> list[dict]:
    """The .po's entries as dicts: msgid, msgid_plural, msgstr / msgstr[0], flags (the header is left out)."""
    entries = []
    for block in path.read_text(encoding="utf-8").strip().split("\n\n"):
        entry: dict = {"flags": set()}
        key = None
        for line in block.splitlines():
            if line.startswith("#,"):
                entry["flags"] |= {flag.strip() for flag in line[2:].split(",")}
            elif line.startswith("#"):
                continue
            elif m := re.match(r'^(msgctxt|msgid|msgid_plural|msgstr(?:\[\d+\])?) "(.*)"$', line):
                key = m.group(1)
                entry[key] = _unescape(m.group(2))
            elif line.startswith('"') and key:
                entry[key] += _unescape(line[1:-1])
        if entry.get("msgid"):
            entries.append(entry)
    return entries


def _translations(entry: dict) -> list[str]:
    return [v for k, v in sorted(entry.items()) if k.startswith("msgstr")]


def test_the_catalogue_is_not_empty():
    assert len(po_entries()) > 200


def test_every_msgid_has_a_translation_and_none_is_fuzzy():
    entries = po_entries()
    assert [e["msgid"] for e in entries if not all(_translations(e))] == []
    assert [e["msgid"] for e in entries if "fuzzy" in e["flags"]] == []
    header = PO.read_text(encoding="utf-8").split("\n\n")[0]
    assert "#, fuzzy" not in header and "Plural-Forms: nplurals=1; plural=0;" in header


@pytest.mark.parametrize("pattern", [r"%\(\w+\)[-#0 +.\d]*[sdf]", r"</?\w+>"])
def test_translations_keep_the_placeholders_and_markup(pattern):
    wrong = []
    for e in po_entries():
        want = sorted(re.findall(pattern, e.get("msgid_plural", e["msgid"])))
        for text in _translations(e):
            if sorted(re.findall(pattern, text)) != want:
                wrong.append((e["msgid"], text))
    assert wrong == []


def test_the_compiled_catalogue_is_up_to_date():
    assert MO.exists(), "locale/zh_Hans/LC_MESSAGES/django.mo missing: run bin/vbq setup (msgfmt)"
    with MO.open("rb") as fh:
        catalog = gettext.GNUTranslations(fh)._catalog
    expected = {}
    for e in po_entries():
        # gettext keys a msgid with a context ({% translate "to" context "date range" %}) as "context\x04msgid"
        msgid = f"{e['msgctxt']}\x04{e['msgid']}" if "msgctxt" in e else e["msgid"]
        if "msgid_plural" in e:
            expected[(msgid, 0)] = e["msgstr[0]"]
        else:
            expected[msgid] = e["msgstr"]
    compiled = {k: v for k, v in catalog.items() if k != ""}
    assert compiled == expected, "django.mo differs from django.po: run bin/vbq setup (msgfmt)"


def test_every_translated_template_string_is_in_the_catalogue():
    msgids = {e["msgid"] for e in po_entries()}
    used = set()
    for path in (ROOT / "templates").rglob("*.html"):
        text = path.read_text(encoding="utf-8")
        used |= {_unescape(m) for m in re.findall(r'{%\s*translate\s+"((?:[^"\\]|\\.)*)"', text)}
        used |= set(re.findall(r"{%\s*translate\s+'([^']*)'", text))
    # makemessages stores a template's "%" as "%%" (Django's templatize), and translates it back when rendering
    assert sorted(u for u in used if u.replace("%", "%%") not in msgids) == []


VIEWER = ROOT / "frontend" / "src" / "viewer"


def _js_catalogue(path: Path, name: str) -> dict[str, str]:
    """The ``'key': 'text'`` pairs of the object literal ``const/export const <name> = { … };`` in ``path``."""
    text = path.read_text(encoding="utf-8")
    body = re.search(rf"const {name} = \{{(.*?)\n\}};", text, re.S).group(1)
    return dict(re.findall(r"^\s*'([\w.]+)':\s*'((?:[^'\\]|\\.)*)',?\s*$", body, re.M))


def test_the_viewer_catalogue_has_every_english_key_in_chinese_with_its_placeholders():
    english = _js_catalogue(VIEWER / "messages.js", "EN")
    chinese = _js_catalogue(VIEWER / "messages-zh.js", "ZH")
    assert len(english) > 40
    assert sorted(set(english) - set(chinese)) == [] and sorted(set(chinese) - set(english)) == []
    placeholders = {k: sorted(re.findall(r"\{\w+\}", v)) for k, v in english.items()}
    assert {k: sorted(re.findall(r"\{\w+\}", v)) for k, v in chinese.items()} == placeholders
    assert [k for k, v in chinese.items() if not v.strip() and english[k].strip()] == []
