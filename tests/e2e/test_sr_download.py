"""The PI downloads DICOM SRs from the reads page in real Chromium (Debian package): one read's .dcm and the whole
study's zip, as a person does (#19 point 4). Plain links, so the page runs under the site's real CSP."""

from __future__ import annotations

import io
import zipfile

import pytest

from scoring.dicom_sr import sr_values
from scoring.models import ReadScore
from tests import factories as f
from tests.scoring_tests.test_sr_api import scene  # noqa: F401 (fixture: a phantom imported, two submitted reads)

from .conftest import ARTIFACTS

pytestmark = pytest.mark.e2e


def test_the_pi_downloads_a_read_and_the_study_from_the_reads_page(
    chromium_session,
    live_server,
    transactional_db,
    scene,  # noqa: F811
):
    context = chromium_session.new_context(
        viewport={"width": 1600, "height": 1000}, base_url=live_server.url, accept_downloads=True
    )
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        page.goto("/login/")  # the login form's own submit (Enter): the header may hold other forms
        page.fill("#id_username", scene.pi.username)
        page.fill("#id_password", f.PASSWORD)
        page.press("#id_password", "Enter")
        page.wait_for_url(lambda url: "/login/" not in url)
        page.goto(f"/studies/{scene.study.pk}/reads/")
        row = page.locator(f'tr[data-read="{scene.read.pk}"]')
        with page.expect_download() as info:
            row.locator("a[data-read-sr]").click()
        download = info.value
        assert download.suggested_filename.endswith("_reader_read1_sr.dcm")
        values = sr_values(open(download.path(), "rb").read())
        score = ReadScore.objects.get(read=scene.read)
        assert (values["SCORES"]["vbq"], values["SCORES"]["snr"]) == (score.vbq, score.snr)
        page.screenshot(path=str(ARTIFACTS / "reads-sr-links.png"), full_page=True)

        with page.expect_download() as info:
            page.locator("a[data-study-sr]").click()
        archive = zipfile.ZipFile(io.BytesIO(open(info.value.path(), "rb").read()))
        assert len([n for n in archive.namelist() if n.endswith(".dcm")]) == 2 and "manifest.csv" in archive.namelist()
        assert errors == []
    finally:
        context.close()
