"""manage.py demo — build the demo studies from synthetic phantoms through the real import path.

Two studies, as in the source papers: "VBQ vs QCT (demo)" (61 subjects: 21 normal, 21 osteopenia,
19 osteoporosis) and "SNR / M-score vs DEXA (demo)" (5 osteoporotic women + 5 young controls). A PI and
three readers are created; readers 2 and 3 are simulated (ROIs placed with each reader's habits and per-read
jitter on the heterogeneous phantom anatomy, both reads submitted, each case with a plausible 60–240 s of reading
time in one sitting per read, read 2 a washout after read 1; see ``studies.demo.simulate``) so the dashboard,
the reads page and the progress table have data, and reader 1 is left to read in the browser. ``--study VBQ`` builds
one study only.
Re-running changes nothing.
"""

from __future__ import annotations

import io
import tempfile
import time
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.core.management import call_command
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from studies.demo import phantom, simulate
from studies.models import Case, Membership, Read, Study
from studies.services import reading
from studies.services.dicom_import import dicom_import_run
from studies.services.import_cases import patient_digest
from studies.services.membership import study_create
from studies.services.subject_codes import new_subject_code

User = get_user_model()
DEMO_PASSWORD = "vbq-demo-2026"
STUDIES = {
    "VBQ": ("VBQ vs QCT (demo)", {"measure_vbq": True, "measure_snr": True, "reader_roi_stats": "quality"}),
    "SNR": ("SNR / M-score vs DEXA (demo)", {"measure_vbq": True, "measure_snr": True, "reader_roi_stats": "quality"}),
}
SIMULATED_READERS = ("reader2", "reader3")


class Command(BaseCommand):
    help = "Create the demo PI/readers and demo studies (idempotent)."

    def add_arguments(self, parser):
        parser.add_argument("--no-simulate", action="store_true", help="Do not simulate readers 2 and 3")
        parser.add_argument("--subjects", type=int, default=0, help="Only the first N subjects per study (tests)")
        parser.add_argument(
            "--study", dest="only", choices=sorted(STUDIES), action="append", help="Only this study (repeatable)"
        )

    def handle(self, *args, no_simulate: bool, subjects: int, only: list[str] | None = None, **options):
        started = time.monotonic()
        users = {name: self._user(name) for name in ("pi", "reader1", "reader2", "reader3")}
        # The demo PI may create studies (what an admin grants in /admin/); the readers may not.
        may_create = Permission.objects.get(content_type__app_label="studies", codename="add_study")
        users["pi"].user_permissions.add(may_create)
        cohort = phantom.demo_cohort()
        phantom_root = Path(settings.VAR_DIR) / "demo" / "phantoms"
        for key, (name, fields) in STUDIES.items():
            if only and key not in only:
                continue
            members = [s for s in cohort if s.cohort == key][: subjects or None]
            study = Study.objects.filter(name=name).first()
            if study is None:
                study = self._build(name, fields, members, users, phantom_root)
            if not no_simulate:
                self._simulate(study, members, users, phantom_root)
        self.stdout.write(self.style.SUCCESS(f"Demo ready in {time.monotonic() - started:.0f} s."))
        self.stdout.write(f"  PI:      pi / {DEMO_PASSWORD}")
        self.stdout.write(f"  Readers: reader1 / {DEMO_PASSWORD}  (reader2, reader3 are simulated)")

    def _user(self, username: str):
        user, created = User.objects.get_or_create(username=username, defaults={"email": f"{username}@example.org"})
        if created:
            user.set_password(DEMO_PASSWORD)
            user.save()
        return user

    def _geometry(self, subject, root: Path) -> phantom.PhantomGeometry:
        """The subject's phantom series, written once per run (the build and the simulated reads share it)."""
        cache = self.__dict__.setdefault("_geometries", {})
        if subject.subject_code not in cache:
            cache[subject.subject_code] = phantom.make_phantom_series(
                subject, out_dir=root / subject.subject_code, rng_seed=1
            )
        return cache[subject.subject_code]

    def _build(self, name, fields, members, users, root: Path) -> Study:
        self.stdout.write(f"Building “{name}”: {len(members)} phantom series…")
        study = study_create(name=name, created_by=users["pi"], randomisation_seed=20261123, **fields)
        for r in ("reader1", "reader2", "reader3"):
            Membership.objects.get_or_create(study=study, user=users[r], defaults={"role": Membership.Role.READER})
        for subject in members:
            self._geometry(subject, root)
        outcome = dicom_import_run(
            study=study,
            source=root,
            subject_codes=self._opaque_codes(members),
            only=lambda rel: rel.split("/")[0] in {s.subject_code for s in members},
        )
        self.stdout.write(f"  imported {outcome.accepted} images, {outcome.rejected} rejected")
        with tempfile.TemporaryDirectory() as tmp:
            csv_path = Path(tmp) / "reference.csv"
            # keyed by the codes the cases got (the cohort's VBQ-001… labels only name the phantom folders)
            cases = self._cases(study, members)
            phantom.write_reference_csv([replace(s, subject_code=code) for code, s in cases.items()], csv_path)
            self._import_reference(study, csv_path, users["pi"])
        created = reading.reading_plan_build(study=study, user=users["pi"])
        self.stdout.write(f"  reading plan: {created} reads (3 readers × {study.reads_per_reader} reads)")
        return study

    @staticmethod
    def _opaque_codes(members) -> dict[str, str]:
        """Random codes (issue #15): the cohort's labels follow the groups (VBQ-001–021 are all normal)."""
        codes: dict[str, str] = {}
        for s in members:
            codes[s.patient_id] = new_subject_code(set(codes.values()), prefix=f"{s.cohort}-")
        return codes

    @staticmethod
    def _cases(study: Study, members) -> dict:
        """Case subject code → phantom subject, matched through the keyed digest of the Patient ID."""
        by_digest = {patient_digest(study, s.patient_id): s for s in members}
        rows = Case.objects.filter(study=study, patient_digest__in=by_digest).values_list(
            "subject_code", "patient_digest"
        )
        return {code: by_digest[digest] for code, digest in rows}

    @staticmethod
    def _timings(study: Study, reads: list[Read], geometries: dict) -> dict[int, simulate.ReadTiming]:
        """Plausible opened/submitted times of the simulated reads (``simulate.reading_session``): each reader reads
        each read number in one sitting in worklist order; the last read number's sitting ends shortly before now,
        each earlier one a washout (+ 1 day) before the next, so the read pages and progress show real time spent."""
        now = timezone.now()
        sessions: dict[tuple[str, int], list[Read]] = {}
        for read in reads:  # already in worklist order (read number, order index)
            sessions.setdefault((read.reader.username, read.read_number), []).append(read)
        last = max(study.reads_per_reader, *(n for _, n in sessions)) if sessions else study.reads_per_reader
        out: dict[int, simulate.ReadTiming] = {}
        for (reader, number), todo in sessions.items():
            offset = SIMULATED_READERS.index(reader) if reader in SIMULATED_READERS else len(SIMULATED_READERS)
            end = now - timedelta(days=(last - number) * (study.washout_days + 1), minutes=5 + 40 * offset)
            codes = [geometries[r.case.subject_code].subject_code for r in todo]  # the phantom's own, stable label
            timings = simulate.reading_session(codes, reader=reader, read_number=number, end=end)
            out.update((r.pk, t) for r, t in zip(todo, timings, strict=True))
        return out

    def _import_reference(self, study, path: Path, user) -> None:
        try:
            from studies.services.reference_csv import reference_import
        except ImportError:  # pragma: no cover - the reference importer ships with the image import
            self.stderr.write("reference import unavailable; skipped")
            return
        result = reference_import(study=study, file_bytes_or_text=path.read_bytes(), user=user, filename=path.name)
        self.stdout.write(f"  reference data: {getattr(result, 'imported', '?')} subjects")

    def _simulate(self, study: Study, members, users, root: Path) -> None:
        todo = Read.objects.filter(study=study, reader__username__in=SIMULATED_READERS).exclude(
            status=Read.Status.SUBMITTED
        )
        if not todo.exists():
            return
        self.stdout.write(f"  simulating {todo.count()} reads by {', '.join(SIMULATED_READERS)}…")
        geometries = {code: self._geometry(s, root) for code, s in self._cases(study, members).items()}
        reads = [
            read
            for read in todo.select_related("case__primary_series", "reader").order_by("read_number", "order_index")
            if read.case.subject_code in geometries
        ]
        timings = self._timings(study, reads, geometries)
        for read in reads:
            geometry = geometries[read.case.subject_code]
            timing = timings[read.pk]
            if read.available_from is None or read.available_from > timing.opened_at:
                read.available_from = timing.opened_at  # the demo waives the washout of simulated readers
                read.save(update_fields=["available_from"])
            instances = list(read.case.primary_series.instances.order_by("slice_position", "id"))
            sop = instances[geometry.mid_slice_index].sop_instance_uid
            with transaction.atomic():
                for payload in simulate.simulated_rois(
                    geometry, reader=read.reader.username, read_number=read.read_number
                ):
                    if not read.rois.filter(label=payload["label"]).exists():
                        reading.roi_create(read=read, user=read.reader, data=payload | {"sop_instance_uid": sop})
            with transaction.atomic():  # the submit's events fire on commit, after the simulated times are in
                # The simulated time on the case, which the submit keeps (and its audit row records).
                Read.objects.filter(pk=read.pk).update(time_on_task_seconds=timing.seconds, last_activity_at=None)
                reading.read_submit(read=read, user=read.reader)
                Read.objects.filter(pk=read.pk).update(
                    started_at=timing.opened_at, submitted_at=timing.submitted_at, last_activity_at=timing.submitted_at
                )
        # Score now, whatever the task setup (no broker, or a broker without a worker yet): the scoring app's
        # audit recomputes what is missing and stores it (studies does not import scoring).
        call_command("scoring_audit", study=str(study.pk), fix=True, stdout=io.StringIO())
