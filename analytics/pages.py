"""Dashboard pages (PI only): progress, agreement, Table 1, groups, ROC, correlation, exports; CSV and figures.

Pages never compute statistics inline: they show the cached section (:mod:`analytics.services`), queue a
recomputation when the inputs changed and, until it is done, a "computing…" banner that refreshes the page.
Readers get 403, non-members 404, anonymous users the login page.
"""

from __future__ import annotations

import math

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.files.storage import default_storage
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.safestring import mark_safe
from django.utils.text import slugify
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from analytics import figure_cache, figures, reader_sets, services
from analytics.datasets import OUTCOMES
from analytics.export_meanings import shown_columns
from analytics.models import AnalysisCache
from analytics.sections import exports as csv_exports
from analytics.sections.common import CACHED_SECTIONS, SECTIONS
from analytics.shown import message_shown, outcome_shown, section_title_shown, table_shown, table_title_shown
from analytics.snapshot import all_tables, snapshot_filename
from analytics.snapshot_jobs import snapshot_build_request, snapshot_state
from studies.models import Study
from studies.permissions import study_for_pi
from vbqsite.queue import QUEUE_DOWN, QueueUnavailable, enqueue

PI_ONLY = "Only the study's PI can see the analytics."

#: Tabs: page key, title, URL name.
TABS: tuple[tuple[str, str, str], ...] = (
    ("progress", "Progress", "analytics-overview"),
    ("agreement", "Agreement", "analytics-agreement"),
    ("table1", "Table 1", "analytics-table1"),
    ("groups", "Groups", "analytics-groups"),
    ("roc", "ROC", "analytics-roc"),
    ("correlation", "Correlation", "analytics-correlation"),
    ("exports", "Exports", "analytics-exports"),
)

#: What each page shows, in order: ("table", id) or ("figures", name prefix); ("table", id, "details") collapses.
LAYOUT: dict[str, tuple[tuple[str, ...], ...]] = {
    "progress": (("table", "progress"), ("table", "scoring"), ("table", "qc")),
    "agreement": (
        ("table", "icc_summary"),
        ("figures", "ba-"),
        ("table", "bland_altman"),
        ("table", "reader_drift"),
        ("figures", "drift-"),
        ("table", "icc_forms", "details"),
    ),
    "table1": (("table", "table1"),),
    "groups": (("table", "group_summary"), ("figures", "box-"), ("table", "tukey")),
    "roc": (
        ("table", "roc_auc"),
        ("figures", "roc-"),
        ("table", "roc_youden"),
        ("table", "roc_compare"),
        ("table", "thresholds_vbq"),
        ("table", "thresholds_m_score"),
    ),
    "correlation": (("table", "correlation"), ("figures", "scatter-"), ("table", "regression")),
}
FIGURE_ORDER = ("vbq", "snr", "roisd", "mscore", "bmd", "tscore")
FIGURE_TITLES = {
    "ba-vbq": gettext_lazy("Bland–Altman plots of VBQ"),
    "ba-snr": gettext_lazy("Bland–Altman plots of SNR L1–L4"),
    "drift-vbq": gettext_lazy("Reader drift: VBQ against position in the worklist"),
    "drift-snr": gettext_lazy("Reader drift: SNR L1–L4 against position in the worklist"),
    "drift-roisd": gettext_lazy("Reader drift: ROI SD against position in the worklist"),
    "box-vbq": gettext_lazy("VBQ by WHO group"),
    "box-snr": gettext_lazy("SNR L1–L4 by WHO group"),
    "box-mscore": gettext_lazy("M-score by WHO group"),
    # xgettext:no-python-format ("95% c" is not a placeholder)
    "scatter-vbq-bmd": gettext_lazy("VBQ vs BMD with the regression line and its 95% confidence band"),
    # xgettext:no-python-format ("95% c" is not a placeholder)
    "scatter-vbq-tscore": gettext_lazy("VBQ vs T-score with the regression line and its 95% confidence band"),
}


def _figure_key(name: str) -> tuple:
    parts = name.split("-")[1:]
    return (name.split("-")[0], [FIGURE_ORDER.index(p) if p in FIGURE_ORDER else 99 for p in parts], name)


def _figures(study: Study, state: services.SectionState, prefix: str) -> list[dict]:
    result = state.result or {}
    available = result.get("figures", {})
    names = sorted((n for n in available if n.startswith(prefix)), key=_figure_key)
    version = (state.row.inputs_digest if state.row else "")[:12]
    out = []
    for name in names:
        title = FIGURE_TITLES.get(name) or (
            _("ROC curves: %(outcome)s") % {"outcome": outcome_shown(name[4:])}
            if name.startswith("roc-") and name[4:] in OUTCOMES
            else name
        )
        urls = {
            fmt: reverse("analytics-figure", kwargs={"study_id": study.pk, "name": name, "fmt": fmt}) + f"?v={version}"
            for fmt in figures.FORMATS
        }
        out.append(
            {
                "name": name,
                "title": title,
                "urls": urls,
                "has_data": available[name],
                "wide": name.startswith(("ba-", "drift-")),  # multi-panel, double-column figures
            }
        )
    return out


def _table_html(tab: dict) -> str:
    """The <table> of a dashboard table, built directly (a template loop over ~200 rows × 13 cells costs
    tens of milliseconds; this costs one)."""
    numeric = tab["numeric"]

    def cls(i: int) -> str:
        return ' class="num"' if i < len(numeric) and numeric[i] and i > 0 else ""

    head = "".join(f'<th scope="col"{cls(i)}>{escape(col)}</th>' for i, col in enumerate(tab["columns"]))
    english = tab.get("english_cells") or [()] * len(tab["rows"])  # cells kept English (analytics.shown)
    body = []
    for row, row_class, row_english in zip(tab["rows"], tab["row_classes"], english, strict=False):
        lang = [' lang="en"' if i < len(row_english) and row_english[i] else "" for i in range(len(row))]
        cells = "".join(
            f'<th scope="row"{lang[i]}>{escape(value)}</th>' if i == 0 else f"<td{cls(i)}{lang[i]}>{escape(value)}</td>"
            for i, value in enumerate(row)
        )
        body.append(f'<tr class="{escape(row_class)}">{cells}</tr>' if row_class else f"<tr>{cells}</tr>")
    return mark_safe(  # every cell is escaped above
        f'<table class="table journal"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'
    )


def _tables_by_id(study: Study, state: services.SectionState) -> dict[str, dict]:
    result = state.result or {}
    out = {}
    for tab in result.get("tables", []):
        tab = table_shown(tab, state.section)
        tab["csv_url"] = reverse(
            "analytics-table-csv",
            kwargs={"study_id": study.pk, "section": state.section.replace(":", "-"), "table": tab["id"]},
        )
        tab["html"] = _table_html(tab) if tab["rows"] else ""
        out[tab["id"]] = tab
    return out


def _blocks(study: Study, page: str, state: services.SectionState) -> list[dict]:
    tables = _tables_by_id(study, state)
    blocks = []
    used = set()
    for item in LAYOUT.get(page, ()):
        if item[0] == "table" and item[1] in tables:
            used.add(item[1])
            blocks.append({"kind": "table", "table": tables[item[1]], "details": len(item) > 2})
        elif item[0] == "figures":
            figs = _figures(study, state, item[1])
            if figs:
                blocks.append({"kind": "figures", "figures": figs})
    blocks += [{"kind": "table", "table": t, "details": False} for key, t in tables.items() if key not in used]
    return blocks


def _base_context(request, study: Study, page: str) -> dict:
    return {
        "study": study,
        "page": page,
        "tabs": [
            {"key": key, "title": title, "url": reverse(url, kwargs={"study_id": study.pk}), "active": key == page}
            for key, title, url in TABS
        ],
    }


def _section_page(request, study_id: int, page: str):
    study = study_for_pi(request.user, study_id, message=PI_ONLY)
    outcome = request.GET.get("outcome") if page == "roc" else None
    if outcome is not None and outcome not in OUTCOMES:
        outcome = None
    section = services.section_for_page(page, outcome)
    state = services.sections_request(study, [section])[section]
    ctx = _base_context(request, study, page)
    ctx |= {
        "state": state,
        "computing": state.computing,
        "section": section,
        "title": SECTIONS.get(page, page),
        "result": state.result,
        "messages_shown": [message_shown(m) for m in (state.result or {}).get("messages", [])],
        "blocks": _blocks(study, page, state) if state.result else [],
        "outcomes": [{"key": k, "label": outcome_shown(k), "selected": section == f"roc:{k}"} for k in OUTCOMES],
        "refresh_url": reverse("analytics-refresh", kwargs={"study_id": study.pk}),
    }
    if page == "agreement":
        chosen = set(reader_sets.agreement_readers_get(study))
        ctx["reader_choices"] = [
            {"id": uid, "name": name, "checked": not chosen or uid in chosen}
            for uid, name in reader_sets.study_readers(study)
        ]
        ctx["reader_set_url"] = reverse("analytics-agreement-readers", kwargs={"study_id": study.pk})
        ctx["sample_size"] = _sample_size(request, study, len(ctx["reader_choices"]))
    return render(request, "analytics/section.html", ctx)


#: The sample-size form's fields: name -> (label, default, type).
SAMPLE_SIZE_FIELDS: dict[str, tuple[str, float | int, type]] = {
    "icc": (gettext_lazy("Expected ICC"), 0.8, float),
    "null": (gettext_lazy("Null ICC (smallest acceptable)"), 0.6, float),
    "raters": (gettext_lazy("Readers (ratings per case)"), 3, int),
    "alpha": (gettext_lazy("α (one-sided)"), 0.05, float),
    "power": (gettext_lazy("Power"), 0.8, float),
}
#: One line of help under each field of the sample-size form, in a clinician's words.
SAMPLE_SIZE_HELP: dict[str, str] = {
    "icc": gettext_lazy("The agreement you expect between readers (0 to 1), from a pilot or the literature."),
    "null": gettext_lazy(
        "The lowest agreement that would still be acceptable: the study should show the ICC is above it."
    ),
    "raters": gettext_lazy("How many readers measure every case."),
    "alpha": gettext_lazy(
        "The risk of concluding the ICC is above the acceptable value when it is not (usually 0.05)."
    ),
    "power": gettext_lazy("The chance of showing it when the ICC really is the expected value (usually 0.8 or 0.9)."),
}


def _sample_size(request, study: Study, n_readers: int) -> dict:
    """The agreement tab's ICC sample-size calculator (Walter, Eliasziw & Donner 1998) from GET parameters.

    Bad values give a message in the card, never an error page.
    """
    from analytics import stats

    values: dict[str, float | int] = {}
    errors: list[str] = []
    for name, (label, default, kind) in SAMPLE_SIZE_FIELDS.items():
        raw = request.GET.get(f"ss_{name}", "").strip()
        if not raw:
            values[name] = n_readers if name == "raters" and n_readers >= 2 else default
            continue
        try:
            number = kind(raw) if kind is float else int(raw, 10)
        except ValueError:
            wrong = (
                _("%(label)s: “%(value)s” is not a whole number.")
                if kind is int
                else _("%(label)s: “%(value)s” is not a number.")
            )
            errors.append(wrong % {"label": label, "value": raw[:20]})
            values[name] = default
            continue
        if kind is float and not math.isfinite(number):
            errors.append(_("%(label)s must be a finite number.") % {"label": label})
            number = default
        values[name] = number
    current_n = study.cases.count()
    fields = [(f"ss_{k}", v[0], values[k], SAMPLE_SIZE_HELP[k]) for k, v in SAMPLE_SIZE_FIELDS.items()]
    out: dict = {"fields": fields, "errors": errors}
    if errors:
        return out
    try:
        result = stats.icc_sample_size(
            values["icc"], values["null"], values["raters"], alpha=values["alpha"], power=values["power"]
        )
        out["result"] = result.to_dict()
        if current_n >= 2:
            out["current_n"] = current_n
            out["power_at_current_n"] = stats.icc_power(
                current_n, values["icc"], values["null"], values["raters"], alpha=values["alpha"]
            )
    except ValueError as error:
        out["errors"].append(str(error)[:1].upper() + str(error)[1:] + ".")
    return out


@login_required
def overview(request, study_id: int):
    return _section_page(request, study_id, "progress")


@login_required
def agreement(request, study_id: int):
    return _section_page(request, study_id, "agreement")


@login_required
@require_POST
def agreement_readers(request, study_id: int):
    """Save the readers of the inter-rater ICC (checkboxes ``reader``); fewer than 2 is refused with a message."""
    study = study_for_pi(request.user, study_id, message=PI_ONLY)
    try:
        reader_sets.agreement_readers_set(study=study, reader_ids=request.POST.getlist("reader"))
    except ValueError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, _("Readers of the inter-rater ICC saved; the agreement is being recomputed."))
    return redirect("analytics-agreement", study_id=study.pk)


@login_required
def table1(request, study_id: int):
    return _section_page(request, study_id, "table1")


@login_required
def groups(request, study_id: int):
    return _section_page(request, study_id, "groups")


@login_required
def roc(request, study_id: int):
    return _section_page(request, study_id, "roc")


@login_required
def correlation(request, study_id: int):
    return _section_page(request, study_id, "correlation")


@login_required
@require_POST
def refresh(request, study_id: int):
    """Recompute sections now even if their inputs are unchanged (e.g. after a failure)."""
    from analytics import tasks

    study = study_for_pi(request.user, study_id, message=PI_ONLY)
    section = request.POST.get("section")
    sections = [section] if section in CACHED_SECTIONS else None
    AnalysisCache.objects.filter(study=study, section__in=sections or CACHED_SECTIONS).update(
        status=AnalysisCache.Status.PENDING, requested_at=timezone.now()
    )
    if not enqueue(tasks.study_analytics_refresh, study.pk, sections, True):
        messages.error(request, _("The job queue is not reachable; the analyses will be recomputed later."))
    else:
        messages.success(request, _("Recomputation queued."))
    target = request.POST.get("next") or ""
    if not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        target = reverse("analytics-overview", kwargs={"study_id": study.pk})
    return redirect(target)


@login_required
def exports(request, study_id: int):
    study = study_for_pi(request.user, study_id, message=PI_ONLY)
    states = services.sections_request(study, list(CACHED_SECTIONS))
    table_links = []
    for section, state in states.items():
        for tab in (state.result or {}).get("tables", []):
            table_links.append(
                {
                    "section": section,
                    "section_title": section_title_shown(section),
                    "title": table_title_shown(tab["id"], tab["title"], section),
                    "url": reverse(
                        "analytics-table-csv",
                        kwargs={"study_id": study.pk, "section": section.replace(":", "-"), "table": tab["id"]},
                    ),
                }
            )
    snapshot = snapshot_state(study)
    ctx = _base_context(request, study, "exports")
    computing = any(s.computing for s in states.values())
    ctx |= {
        "title": "Exports",
        "computing": computing or snapshot.building,
        "n_fresh": sum(s.fresh for s in states.values()),
        "n_sections": len(states),
        "data_files": [
            {
                "name": f"{name}.csv",
                "url": reverse("analytics-export-csv", kwargs={"study_id": study.pk, "kind": name}),
                "columns": shown_columns(columns),
            }
            for name, columns in (
                ("roi_measurements", csv_exports.ROI_COLUMNS),
                ("scores", csv_exports.SCORE_COLUMNS),
                (
                    "subjects",
                    csv_exports.SUBJECT_COLUMNS
                    | {
                        "vbq_<reader>_r<n>": "VBQ of that reader's read n (analysed reads)",
                        "snr_<reader>_r<n>": "SNR L1–L4 of that read",
                    },
                ),
            )
        ],
        "tables": table_links,
        "tables_xlsx_url": reverse("analytics-tables-xlsx", kwargs={"study_id": study.pk}),
        "snapshot": snapshot,
        "snapshot_url": reverse("analytics-snapshot", kwargs={"study_id": study.pk}),
    }
    return render(request, "analytics/exports.html", ctx)


def _attachment(content: bytes, content_type: str, filename: str, *, inline: bool = False) -> HttpResponse:
    response = HttpResponse(content, content_type=content_type)
    response["Content-Disposition"] = f'{"inline" if inline else "attachment"}; filename="{filename}"'
    response["Cache-Control"] = "private, no-cache"
    return response


def _prefix(study: Study) -> str:
    return f"{slugify(study.name) or 'study'}-{study.pk}"


@login_required
def export_csv(request, study_id: int, kind: str):
    study = study_for_pi(request.user, study_id, message=PI_ONLY)
    if kind not in csv_exports.EXPORTS:
        raise Http404("No such export.")
    return _attachment(csv_exports.EXPORTS[kind](study), "text/csv; charset=utf-8", f"{_prefix(study)}-{kind}.csv")


def _section_from_slug(slug: str) -> str:
    section = slug.replace("-", ":", 1) if slug.startswith("roc-") else slug
    if section not in CACHED_SECTIONS:
        raise Http404("No such section.")
    return section


@login_required
def table_csv(request, study_id: int, section: str, table: str):
    study = study_for_pi(request.user, study_id, message=PI_ONLY)
    name = _section_from_slug(section)
    state = services.sections_request(study, [name])[name]
    for tab in (state.result or {}).get("tables", []):
        if tab["id"] == table:
            return _attachment(
                csv_exports.table_csv(tab), "text/csv; charset=utf-8", f"{_prefix(study)}-{section}-{table}.csv"
            )
    if state.result is None:
        return HttpResponse(
            "The analysis is still being computed; try again shortly.", status=503, content_type="text/plain"
        )
    raise Http404("No such table.")


@login_required
def tables_xlsx(request, study_id: int):
    """Every dashboard table in one workbook (numbers only), from the cached sections."""
    from analytics.manuscript import tables_xlsx as workbook

    study = study_for_pi(request.user, study_id, message=PI_ONLY)
    states = services.sections_request(study, list(CACHED_SECTIONS))
    results = {name: state.result for name, state in states.items() if state.result}
    if not results:
        return HttpResponse(
            "The analysis is still being computed; try again shortly.", status=503, content_type="text/plain"
        )
    return _attachment(
        workbook(all_tables(results)),
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        f"{_prefix(study)}-tables.xlsx",
    )


@login_required
def figure(request, study_id: int, name: str, fmt: str):
    study = study_for_pi(request.user, study_id, message=PI_ONLY)
    try:
        section = figure_cache.figure_section(name)
    except KeyError:
        raise Http404("No such figure.") from None
    # No freshness check here: the page that links the figure did it (and the URL carries the digest).
    try:
        content = figure_cache.figure_get(study, name, fmt, section=section)
    except KeyError:
        raise Http404("No such figure.") from None
    return _attachment(content, figures.FORMATS[fmt], f"{_prefix(study)}-{name}.{fmt}", inline=fmt == "svg")


@login_required
def snapshot(request, study_id: int):
    """The stored snapshot zip when it is current; otherwise its build is queued (a job with progress, run
    in-process without a broker) and the exports tab shows it until the link is ready."""
    study = study_for_pi(request.user, study_id, message=PI_ONLY)
    try:
        state = snapshot_build_request(study, request.user)
    except QueueUnavailable:
        messages.error(request, _(QUEUE_DOWN))
        return redirect("analytics-exports", study_id=study.pk)
    if not state.ready:
        if state.status == "failed":
            messages.error(request, state.error_shown)
        else:
            messages.info(request, _("The analysis snapshot is being built; this page refreshes until it is ready."))
        return redirect("analytics-exports", study_id=study.pk)
    record = state.record
    with default_storage.open(record["path"], "rb") as fh:
        content = fh.read()
    return _attachment(content, "application/zip", record.get("filename") or snapshot_filename(study))
