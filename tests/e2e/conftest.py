"""Browser end-to-end fixtures: Debian's Chromium driven by Playwright against pytest-django's live server.

Never downloads a browser (no ``playwright install``): the system ``chromium`` package is used. When it or the
built viewer bundle is missing the tests skip locally and fail in CI (tests.conftest.skip_or_fail).
"""

from __future__ import annotations

import os
import shutil
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests import factories as f
from tests.conftest import skip_or_fail

# Playwright's sync API keeps an asyncio loop in this thread; Django's ORM refuses to run next to one unless
# told it is safe. It is: the test thread only talks to Playwright and the database, one call at a time.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

ROOT = Path(__file__).resolve().parents[2]
VIEWER_JS = ROOT / "studies" / "static" / "viewer" / "viewer.js"
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def _chromium() -> str | None:
    for candidate in (os.environ.get("CHROMIUM_PATH"), "/usr/bin/chromium", shutil.which("chromium")):
        if candidate and Path(candidate).exists():
            return candidate
    return None


@contextmanager
def launched_chromium():
    """Debian's Chromium driven by Playwright (never a downloaded browser); fails in CI when missing."""
    executable = _chromium()
    if executable is None:
        skip_or_fail("Debian chromium not installed: apt-get install -y chromium")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:  # pragma: no cover - playwright is in requirements-dev.txt
        skip_or_fail("the Python playwright package is not installed")
    ARTIFACTS.mkdir(exist_ok=True)
    pw = sync_playwright().start()
    chromium = pw.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS, headless=True)
    try:
        yield chromium
    finally:
        chromium.close()
        pw.stop()


@pytest.fixture(scope="session")
def chromium_session():
    """One Chromium for the whole session: Playwright's sync API refuses a second instance while one runs."""
    with launched_chromium() as chromium:
        yield chromium


@pytest.fixture(scope="session")
def browser(chromium_session):
    """The shared Chromium, for tests that open the viewer (its bundle must be built)."""
    if not VIEWER_JS.exists():
        skip_or_fail("viewer bundle not built: run `cd frontend && npm ci && npm run build`")
    return chromium_session


@dataclass
class ReadingStudy:
    study: object
    pi: object
    reader: object
    geometry: dict = field(default_factory=dict)  # subject code -> studies.demo.phantom.PhantomGeometry


@pytest.fixture
def reading_study(transactional_db, tmp_path) -> ReadingStudy:
    """A VBQ + SNR study with two phantom cases imported through the real DICOM import, one reader, a plan."""
    from studies.demo import phantom
    from studies.services.dicom_import import dicom_import_run
    from studies.services.reading import reading_plan_build

    pi = f.make_user("pi")
    # "full": the viewer test compares the panel's mean with Cornerstone's (readers see it only with this setting)
    study = f.make_study(
        pi, name="E2E lumbar VBQ", measure_vbq=True, measure_snr=True, randomisation_seed=7, reader_roi_stats="full"
    )
    reader = f.make_user("reader")
    f.add_member(study, reader)
    subjects = [s for s in phantom.demo_cohort() if s.cohort == "VBQ"][:2]
    root = tmp_path / "phantoms"
    geometry = {
        s.subject_code: phantom.make_phantom_series(s, out_dir=root / s.subject_code, rng_seed=1) for s in subjects
    }
    outcome = dicom_import_run(study=study, source=root, subject_codes={s.patient_id: s.subject_code for s in subjects})
    assert outcome.accepted == sum(len(g.files) for g in geometry.values()), outcome.report
    reading_plan_build(study=study, user=pi)
    return ReadingStudy(study=study, pi=pi, reader=reader, geometry=geometry)


@pytest.fixture
def context(browser, live_server):
    # bypass_csp: Playwright's wait_for_function compiles its predicate inside the page, which the site's
    # Content-Security-Policy (no 'unsafe-eval') refuses. tests/e2e/test_viewer_csp.py runs the pages under the CSP.
    ctx = browser.new_context(viewport={"width": 1600, "height": 1000}, base_url=live_server.url, bypass_csp=True)
    try:
        yield ctx
    finally:
        ctx.close()


def login(page, username: str, password: str = f.PASSWORD) -> None:
    """Log in through the real login page."""
    page.goto("/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("form [type=submit]")
    page.wait_for_url(lambda url: "/login/" not in url)


def watch(page) -> list[str]:
    """Collect what a person would call a broken page: console errors, uncaught exceptions, HTTP answers ≥ 400."""
    problems: list[str] = []
    page.on("console", lambda m: problems.append(f"{m.text} @ {m.location.get('url')}") if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(f"uncaught: {e}"))
    page.on("response", lambda r: problems.append(f"HTTP {r.status} {r.url}") if r.status >= 400 else None)
    return problems


def until(page, expression: str, timeout: float = 20.0):
    """The first truthy value of a page expression, polled every 100 ms; AssertionError after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = page.evaluate(expression)
        if value:
            return value
        page.wait_for_timeout(100)
    raise AssertionError(f"timed out waiting for {expression}")
