"""Viewer speed in Chromium (issue #18 point 8): time to the first image after opening a case, and time until the
next case shows after Submit — with the next case's slices prefetched, and in the same run without (baseline).

    python bench/viewer_speed.py                              # 5 submits per mode, loopback network
    python bench/viewer_speed.py --cases 8
    python bench/viewer_speed.py --latency-ms 40 --mbps 20    # a hospital network, emulated by Chromium

Builds the demo VBQ study (``manage.py demo --study VBQ --no-simulate``, ``2 × cases + 2`` phantom cases imported
by the app) in a temporary var dir with SQLite, gives reader1 the simulated ROIs of every case
(``studies.demo.simulate``, scored) so a case is complete and Submit is one click, collects the static files and
serves the site with gunicorn (2 workers × 4 threads, DEBUG off) on a free loopback port. Debian's Chromium
(Playwright, ``executable_path=/usr/bin/chromium``, headless) then logs in as reader1, once per mode:

  - **baseline**: prefetch off (``localStorage['vbq.viewer.prefetch'] = 'off'``, what ``?prefetch=0`` sets);
  - **prefetch**: the viewer's default — once a case has rendered, the next case's slices are fetched at low
    priority (``frontend/src/viewer/prefetch.js``).

The modes are interleaved case by case (the machine's load drifts), each in its own fresh browser contexts (an
empty HTTP cache each):

  - *open*: each of the cases opened directly (``page.goto``, in reverse worklist order so that no case opened
    follows the one prefetched): time from navigation start to the viewport's first drawn image (the viewer's
    ``body[data-first-image-ms]``, set on Cornerstone's first IMAGE_RENDERED);
  - *next*: a reading session — open a case, wait until its page is ready and (prefetch) the next case is
    fetched, or 1.5 s at least (a reader spends a minute or more on a case), click Submit; time from the click to
    the next case's first drawn image (``performance.timeOrigin`` + that page's first-image time), split into the
    submit (click → the next page's navigation start) and the page (navigation start → first image), and how many
    of the next page's slice requests the browser's cache answered (Resource Timing ``transferSize`` 0).

Targets: first image ≤ 1 s, next case ready ≤ 1 s. The client, the server and the browser share the machine's
cores. Writes bench/results/viewer_speed.json (viewer_speed_network.json with emulated network conditions).
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as C

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"]
READY = 'body[data-ready="1"]'
FLAG = "vbq.viewer.prefetch"
MODES = {"baseline": f"localStorage.setItem('{FLAG}', 'off');", "prefetch": f"localStorage.removeItem('{FLAG}');"}
MIN_DWELL_MS = 1500


def build(n_cases: int) -> tuple[list[int], str]:
    """The demo study with ``n_cases`` cases; reader1's ROIs on every case; reader1's read ids in worklist order."""
    from django.core.management import call_command

    from studies.demo import phantom, simulate
    from studies.demo.phantom.series import build_series
    from studies.management.commands.demo import DEMO_PASSWORD, Command
    from studies.models import Read, Study
    from studies.services import reading

    call_command("demo", study=["VBQ"], subjects=n_cases, no_simulate=True, stdout=io.StringIO())
    study = Study.objects.get(name="VBQ vs QCT (demo)")
    members = [s for s in phantom.demo_cohort() if s.cohort == "VBQ"][:n_cases]
    subjects = Command._cases(study, members)
    reads = list(
        Read.objects.filter(study=study, reader__username="reader1", read_number=1)
        .select_related("case__primary_series", "reader")
        .order_by("order_index")
    )
    for read in reads:
        geometry = build_series(subjects[read.case.subject_code], 1)[1]  # the demo writes its phantoms with seed 1
        instances = list(read.case.primary_series.instances.order_by("slice_position", "id"))
        sop = instances[geometry.mid_slice_index].sop_instance_uid
        for payload in simulate.simulated_rois(geometry, reader="reader1", read_number=1):
            reading.roi_create(read=read, user=read.reader, data=payload | {"sop_instance_uid": sop})
    call_command("scoring_audit", study=str(study.pk), fix=True, stdout=io.StringIO())
    return [r.pk for r in reads], DEMO_PASSWORD


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(env: dict, port: int, log: Path) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "gunicorn", "vbqsite.wsgi:application", "-b", f"127.0.0.1:{port}"]
    cmd += ["--workers", "2", "--threads", "4", "--log-level", "warning"]
    proc = subprocess.Popen(
        cmd, cwd=C.ROOT, env=os.environ | env, stdout=log.open("ab"), stderr=subprocess.STDOUT, start_new_session=True
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {proc.returncode}; see {log}")
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/login/", timeout=2).read()
            return proc
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"gunicorn not answering after 60 s; see {log}")


#: Network conditions Chromium emulates (DevTools Network.emulateNetworkConditions), from --latency-ms / --mbps.
NETWORK: dict = {}


def new_page(browser, base: str, mode: str, password: str):
    # bypass_csp: Playwright compiles wait_for_function predicates in the page, which the CSP (no unsafe-eval) refuses
    context = browser.new_context(viewport={"width": 1440, "height": 900}, base_url=base, bypass_csp=True)
    context.add_init_script(MODES[mode])
    page = context.new_page()
    if NETWORK:
        cdp = context.new_cdp_session(page)
        cdp.send("Network.enable")
        cdp.send("Network.emulateNetworkConditions", {"offline": False, **NETWORK})
        page._vbq_cdp = cdp  # keep the session (and its conditions) as long as the page
    page.goto("/login/")
    page.fill("#id_username", "reader1")
    page.fill("#id_password", password)
    page.click("form [type=submit]")
    page.wait_for_url(lambda url: "/login/" not in url)
    return context, page


def wait_ready(page) -> None:
    page.wait_for_selector(f"{READY}, body[data-error]", state="attached", timeout=30_000)
    error = page.evaluate("document.body.dataset.error")
    if error:
        raise RuntimeError(f"viewer failed: {error}")
    page.wait_for_function("document.body.dataset.firstImageMs !== undefined", timeout=30_000)


def viewer_url(read_id: int) -> str:
    from django.urls import reverse

    return reverse("read-viewer", args=[read_id])


CACHED = """() => performance.getEntriesByType('resource').filter((e) => e.name.includes('/dicom/g/'))
    .map((e) => e.transferSize === 0)"""


def open_case(page, read_id: int) -> float:
    """Open a case directly; ms from navigation start to its first drawn image."""
    page.goto(viewer_url(read_id))
    wait_ready(page)
    return float(page.evaluate("document.body.dataset.firstImageMs"))


def submit_step(page, following: int) -> dict:
    """Wait until the case is ready (prefetch settled, ≥ MIN_DWELL_MS), click Submit; ms from the click to the next
    case's first drawn image, and how many of its slices the browser's cache answered."""
    started = time.monotonic()
    page.wait_for_function(
        "['done', 'off', 'failed'].includes(document.body.dataset.prefetch)", timeout=30_000, polling=50
    )
    state = page.evaluate("document.body.dataset.prefetch")
    page.wait_for_timeout(max(0, MIN_DWELL_MS - (time.monotonic() - started) * 1000))
    page.wait_for_function("!document.getElementById('vw-submit').disabled", timeout=30_000)
    clicked = page.evaluate("performance.timeOrigin + performance.now()")
    page.click("#vw-submit")
    page.wait_for_url(f"**{viewer_url(following)}", timeout=30_000)
    wait_ready(page)
    origin, first_ms, html_ms, dom_ms = page.evaluate(
        """() => { const n = performance.getEntriesByType('navigation')[0];
            return [performance.timeOrigin, Number(document.body.dataset.firstImageMs), n.responseEnd,
                    n.domContentLoadedEventEnd]; }"""
    )
    shown = origin + first_ms
    page.wait_for_timeout(300)  # the rest of the stack's requests have started
    cached = page.evaluate(CACHED)
    return {
        "ms": shown - clicked,
        "submit_to_navigation_ms": origin - clicked,  # the submit request and leaving the page
        "navigation_to_image_ms": first_ms,
        "html_ms": html_ms,  # the viewer page's HTML received (navigation start → responseEnd)
        "script_ms": dom_ms,  # the module script run, DOMContentLoaded (its awaits come after)
        "prefetch": state,
        "cached": sum(cached),
        "requested": len(cached),
    }


def summary(values: list[float]) -> dict:
    return {"median_ms": statistics.median(values), "max_ms": max(values), "n": len(values), "all_ms": values}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=5, help="Submits per mode (2 × cases + 2 cases are built)")
    parser.add_argument("--keep", action="store_true", help="Keep the temporary directory")
    parser.add_argument("--latency-ms", type=float, default=0, help="Emulated round-trip latency (e.g. 40)")
    parser.add_argument("--mbps", type=float, default=0, help="Emulated download bandwidth in Mbit/s (e.g. 20)")
    args = parser.parse_args()
    if args.latency_ms or args.mbps:
        rate = args.mbps * 1e6 / 8 if args.mbps else -1  # bytes/s; -1: not throttled
        NETWORK.update(latency=args.latency_ms, downloadThroughput=rate, uploadThroughput=rate)
        print(f"network emulated: {args.latency_ms:.0f} ms latency, {args.mbps or 'unlimited'} Mbit/s")
    if not Path(CHROMIUM).exists():
        print(f"Chromium not found at {CHROMIUM}: apt-get install -y chromium")
        return 2
    from playwright.sync_api import sync_playwright

    tmp = Path(tempfile.mkdtemp(prefix="vbq-bench-viewer-"))
    server = None
    try:
        os.environ["STATIC_ROOT"] = str(tmp / "static")
        env = C.setup_django(tmp / "var", database_url=None, broker_url=None, queue=None)
        env["STATIC_ROOT"] = str(tmp / "static")
        n = 2 * args.cases + 2
        t0 = time.perf_counter()
        read_ids, password = build(n)
        from django.core.management import call_command

        call_command("collectstatic", interactive=False, verbosity=0)
        print(f"built {n} demo cases for reader1 in {time.perf_counter() - t0:.0f} s")
        port = free_port()
        server = serve(env, port, tmp / "gunicorn.log")
        base = f"http://127.0.0.1:{port}"
        results: dict[str, dict] = {}
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
            try:
                # Warm the server (imports, first templates) and the bundle path once, outside the figures.
                context, page = new_page(browser, base, "baseline", password)
                page.goto(viewer_url(read_ids[-1]))
                wait_ready(page)
                context.close()
                # Modes interleaved case by case (the machine's load drifts), each in its own browser contexts.
                first_ctx = {m: new_page(browser, base, m, password) for m in MODES}
                first = {m: [] for m in MODES}
                for k, read_id in enumerate(reversed(read_ids)):
                    for m in sorted(MODES, reverse=bool(k % 2)):
                        first[m].append(open_case(first_ctx[m][1], read_id))
                for context, _ in first_ctx.values():
                    context.close()
                chains = {"baseline": read_ids[: args.cases + 1], "prefetch": read_ids[args.cases + 1 :]}
                session = {m: new_page(browser, base, m, password) for m in MODES}
                for m in MODES:
                    open_case(session[m][1], chains[m][0])
                steps = {m: [] for m in MODES}
                for k in range(args.cases):
                    for m in sorted(MODES, reverse=bool(k % 2)):
                        steps[m].append(submit_step(session[m][1], chains[m][k + 1]))
                for context, _ in session.values():
                    context.close()
                for m in MODES:
                    results[m] = {
                        "first_image": summary(first[m]),
                        "next_case": summary([s["ms"] for s in steps[m]]),
                        "steps": steps[m],
                    }
            finally:
                browser.close()
    finally:
        if server is not None and server.poll() is None:
            server.terminate()
            try:
                server.wait(10)
            except subprocess.TimeoutExpired:
                server.kill()
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)

    print(f"{'':10} {'first image (open a case)':>30} {'next case ready (after Submit)':>32}")
    for mode, r in results.items():
        first, following = r["first_image"], r["next_case"]
        cells = [f"median {s['median_ms']:4.0f} ms, max {s['max_ms']:4.0f}" for s in (first, following)]
        cached = sum(s["cached"] for s in r["steps"])
        requested = sum(s["requested"] for s in r["steps"])
        print(f"{mode:10} {cells[0]:>30} {cells[1]:>32}   next case's slices from the cache: {cached}/{requested}")
        split = [
            statistics.median(s[k] for s in r["steps"]) for k in ("submit_to_navigation_ms", "navigation_to_image_ms")
        ]
        html, script = (statistics.median(s[k] for s in r["steps"]) for k in ("html_ms", "script_ms"))
        print(f"{'':10} {'':>30} {f'(submit {split[0]:4.0f} + page {split[1]:4.0f} ms)':>32}", end="")
        print(f"   page: HTML {html:4.0f} ms, script run {script:4.0f} ms, first image {split[1]:4.0f} ms")
    ok = all(r["first_image"]["max_ms"] <= 1000 for r in results.values()) and (
        results["prefetch"]["next_case"]["max_ms"] <= 1000
    )
    print("targets (first image ≤ 1 s, next case ≤ 1 s with prefetch):", "met" if ok else "NOT met")
    name = "viewer_speed" + ("_network" if NETWORK else "")
    payload = {"cases": args.cases, "network": NETWORK, "modes": results, "machine": C.machine()}
    path = C.write_json(name, payload)
    print(f"results: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
