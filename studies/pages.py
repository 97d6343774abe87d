"""Study pages: list, create, detail (PI: members and settings; reader: worklist)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db.models import Count, Q, Sum
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from studies.forms import MemberAddForm, StudyForm
from studies.models import Membership, Read, Study
from studies.permissions import require_study_creator, study_for_member, study_for_pi
from studies.selectors import studies_visible_to
from studies.services import membership as membership_services
from studies.services import reading
from studies.services.read_opening import reads_opening


def home(request):
    return redirect("study-list" if request.user.is_authenticated else "login")


@login_required
def study_list(request):
    roles = dict(Membership.objects.filter(user=request.user).values_list("study_id", "role"))
    studies = [
        {"study": st, "role": roles.get(st.pk), "cases": st.cases.count()}
        for st in studies_visible_to(request.user).order_by("name")
    ]
    return render(request, "studies/study_list.html", {"studies": studies})


@login_required
def study_create(request):
    require_study_creator(request.user)
    form = StudyForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = {k: v for k, v in form.cleaned_data.items() if k != "name"}
        study = membership_services.study_create(name=form.cleaned_data["name"], created_by=request.user, **data)
        messages.success(request, _("Study “%(study)s” created. You are its PI.") % {"study": study.name})
        return redirect("study-detail", study_id=study.pk)
    return render(request, "studies/study_form.html", {"form": form, "title": _("New study")})


def _worklist(study: Study, user) -> list[dict]:
    rounds: dict[int, dict] = {}
    reads = list(reading.reads_for_reader(study=study, reader=user))
    openings = reads_opening(reads)  # two queries for the whole worklist, not per read
    for read in reads:
        rnd = rounds.setdefault(
            read.read_number,
            {
                "number": read.read_number,
                "reads": [],
                "done": 0,
                "total": 0,
                "opens_at": openings[read.pk].opens_at,
                "open": False,
            },
        )
        rnd["total"] += 1
        rnd["done"] += read.status == Read.Status.SUBMITTED
        if openings[read.pk].may_view:
            rnd["open"] = True
            rnd["reads"].append(read)
    now = timezone.now()
    for rnd in rounds.values():
        rnd["next"] = next((r for r in rnd["reads"] if r.status != Read.Status.SUBMITTED), None)
        # opened, but none of its cases may be shown: a later read of them is open (blinding, reader_may_view)
        rnd["hidden"] = not rnd["open"] and rnd["opens_at"] is not None and rnd["opens_at"] <= now
    return sorted(rounds.values(), key=lambda r: r["number"])


@login_required
def study_detail(request, study_id: int):
    study, role = study_for_member(request.user, study_id)
    ctx = {"study": study, "role": role}
    if role == Membership.Role.PI:
        ctx |= {
            "members": study.memberships.select_related("user").order_by("role", "user__username"),
            "member_form": MemberAddForm(),
            "n_cases": study.cases.count(),
            "n_reads": study.reads.exclude(status=Read.Status.VOIDED).count(),
            "n_submitted": study.reads.filter(status=Read.Status.SUBMITTED).count(),
            "progress": _pi_progress(study),
        }
        template = "studies/study_detail_pi.html"
    else:
        ctx["rounds"] = _worklist(study, request.user)
        template = "studies/study_detail_reader.html"
    return render(request, template, ctx)


def _pi_progress(study: Study) -> list[dict]:
    """Reads done / total and time per case, per reader × read number (one aggregate query)."""
    submitted = Q(status=Read.Status.SUBMITTED)
    rows = (
        study.reads.exclude(status=Read.Status.VOIDED)
        .values("reader__username", "read_number")
        .annotate(
            total=Count("id"), done=Count("id", filter=submitted), seconds=Sum("time_on_task_seconds", filter=submitted)
        )
        .order_by("reader__username", "read_number")
    )
    return [
        {
            "reader": r["reader__username"],
            "read_number": r["read_number"],
            "done": r["done"],
            "total": r["total"],
            "pct": round(100 * r["done"] / r["total"]) if r["total"] else 0,
            "per_case": (r["seconds"] or 0.0) / r["done"] if r["done"] else None,
        }
        for r in rows
    ]


@login_required
def study_settings(request, study_id: int):
    study = study_for_pi(request.user, study_id)
    form = StudyForm(request.POST or None, instance=Study.objects.get(pk=study.pk))
    if request.method == "POST" and form.is_valid():
        try:
            membership_services.study_update(study=study, user=request.user, **form.cleaned_data)
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            messages.success(request, _("Settings saved."))
            return redirect("study-detail", study_id=study.pk)
    return render(
        request,
        "studies/study_form.html",
        {"form": form, "title": _("Settings — %(study)s") % {"study": study.name}, "study": study},
    )


@login_required
@require_POST
def study_member_add(request, study_id: int):
    study = study_for_pi(request.user, study_id)
    form = MemberAddForm(request.POST)
    if form.is_valid():
        try:
            added = membership_services.member_add(study=study, added_by=request.user, **form.cleaned_data)
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            who = added.membership.user.username
            if added.user_created:
                messages.success(
                    request, _("Invited %(who)s: a one-time set-password link was e-mailed.") % {"who": who}
                )
            else:
                messages.success(
                    request, _("%(who)s is now %(role)s.") % {"who": who, "role": added.membership.get_role_display()}
                )
    else:
        messages.error(request, _("Give a username or an e-mail address and a role."))
    return redirect("study-detail", study_id=study.pk)


@login_required
@require_POST
def study_plan_build(request, study_id: int):
    study = study_for_pi(request.user, study_id)
    try:
        created = reading.reading_plan_build(study=study, user=request.user)
    except ValidationError as exc:  # the subject codes are being replaced
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, _("Reading plan updated: %(n)s read(s) created.") % {"n": created})
    return redirect("study-detail", study_id=study.pk)
