"""The PI's remaining pages in Simplified Chinese (issue #18 point 7): hospital DICOM, import report, subject codes,
subject mapping, reference data, the dashboard's exports tab and status messages, and the viewer's pre-submit
checks — each asked for with a Chinese browser (``Accept-Language: zh-Hans``), and the same page still English for
an English one. Stored values (import codes and reasons, job errors) stay English; only what is shown changes."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import translation

from studies.dicom.validate import REJECTION_CODES, inspect_file
from studies.import_reasons import CODE_TITLES, FIXED_REASONS, report_row_for_page
from studies.models import DicomReceiver, DicomWebServer, ImportJob
from studies.services.subject_code_csv import CODE_RULE
from studies.subject_code_pages import CODE_RULE_TEXT
from tests import factories as f
from vbqsite.queue import QUEUE_DOWN

pytestmark = pytest.mark.django_db
ZH = {"HTTP_ACCEPT_LANGUAGE": "zh-Hans"}
EN = {"HTTP_ACCEPT_LANGUAGE": "en-GB"}


@pytest.fixture(autouse=True)
def _english_after_each_test():
    yield
    translation.activate("en-gb")


@pytest.fixture
def study():
    return f.make_study(f.make_user("pi"), name="VBQ vs QCT")


def _page(client, url, headers=ZH, status=200) -> str:
    response = client.get(url, **headers)
    assert response.status_code == status
    return response.content.decode()


def test_hospital_dicom_page_in_chinese(client, study):
    client.force_login(study.created_by)
    url = reverse("study-dicom-network", args=[study.pk])
    html = _page(client, url)
    assert '<html lang="zh-hans">' in html
    for text in (
        "<h1>医院 DICOM</h1>",
        "从 PACS 或扫描仪接收图像（DICOM C-STORE）",
        '<label for="id_ae_title">本研究的 AE 标题</label>',
        "开始接收",
        "<summary>添加 DICOMweb 服务器</summary>",
        '<option value="basic" >用户名和密码（HTTP Basic）</option>',
        "添加服务器",
    ):
        assert text in html, text
    assert "Receive images from the PACS" not in html and "Add a DICOMweb server" not in html
    done = client.post(url, {"action": "set_ae", "ae_title": "VBQ_ZH"}, follow=True, **ZH)
    assert "AE 标题已设置：发送到该 AE 标题的图像现在将进入本研究。" in done.content.decode()
    assert DicomReceiver.objects.get(study=study).ae_title == "VBQ_ZH"
    english = _page(client, url, EN)
    assert "<h1>Hospital DICOM</h1>" in english and "Stop receiving (refuse VBQ_ZH)" in english
    assert "停止接收（拒绝 VBQ_ZH）" in _page(client, url)


def test_import_report_in_chinese_with_the_stored_codes_and_reasons_unchanged(client, study):
    empty = inspect_file(b"", name="empty.dcm").as_dict()
    not_dicom = inspect_file(b"just text, no DICOM", name="notes.txt").as_dict()
    report = [
        {"file": "empty.dcm", "outcome": "rejected", "code": empty["code"], "reason": empty["reason"]},
        {"file": "notes.txt", "outcome": "rejected", "code": not_dicom["code"], "reason": not_dicom["reason"]},
        {
            "file": "jpeg.dcm",
            "outcome": "rejected",
            "code": "unknown_transfer_syntax",
            "reason": "The file uses the transfer syntax 1.2.3.4, which is not a standard DICOM encoding.",
        },
    ]
    job = ImportJob.objects.create(
        study=study, source="x.zip", status=ImportJob.Status.DONE, total=3, done=3, rejected=3, report=report
    )
    client.force_login(study.created_by)
    url = reverse("study-import-detail", args=[study.pk, job.pk])
    html = _page(client, url)
    for text in (
        f"<h1>导入 #{job.pk}</h1>",
        '<span class="badge" id="job-status">已完成</span>',
        "3 / 3 个文件",
        "已接收 0 · 已跳过 0 · 已拒绝 3",
        "<h2>需要注意的文件</h2>",
        '<th scope="col">结果</th>',
        '<span class="badge err">已拒绝</span>',
        "<strong>空文件</strong><br><span>文件为空（0 字节）。</span>",
        "<strong>不是 DICOM 文件</strong><br><span>这不是 DICOM 文件（找不到 DICOM 文件头）",
        # a reason with the file's own values has no catalogue entry: shown as stored, marked as English
        '<strong>未知的传输语法</strong><br><span lang="en">The file uses the transfer syntax 1.2.3.4',
        "查看病例和序列",
    ):
        assert text in html, text
    job.refresh_from_db()
    assert job.report == report  # nothing stored changes
    english = _page(client, url, EN)
    assert "<strong>Empty file</strong><br><span>The file is empty (0 bytes).</span>" in english
    assert '<span class="badge err">rejected</span>' in english and "0 accepted · 0 skipped · 3 rejected" in english


def test_a_failed_import_shows_the_queue_message_in_chinese(client, study):
    ImportJob.objects.create(study=study, source="x.zip", status=ImportJob.Status.FAILED, error=QUEUE_DOWN)
    client.force_login(study.created_by)
    html = _page(client, reverse("study-imports", args=[study.pk]))
    assert "失败" in html and "无法连接任务队列；没有数据丢失——请一分钟后重试。" in html
    assert '<button type="submit" >重试</button>' in html
    assert QUEUE_DOWN in _page(client, reverse("study-imports", args=[study.pk]), EN)


def test_the_import_reason_titles_follow_the_validator():
    assert set(CODE_TITLES) == set(REJECTION_CODES)
    with translation.override("en-gb"):
        assert {code: str(title) for code, title in CODE_TITLES.items()} == REJECTION_CODES
        assert str(CODE_RULE_TEXT) == CODE_RULE
    # the fixed sentences are the validator's own (a change there must be copied here, or it shows in English)
    reasons = {inspect_file(b"", name="a").reason, inspect_file(b"not dicom at all", name="b").reason}
    assert reasons <= {str(r) for r in FIXED_REASONS}
    with translation.override("zh-hans"):
        row = report_row_for_page({"outcome": "skipped", "code": "dicomdir", "reason": str(FIXED_REASONS[2])})
        assert (row["outcome_label"], row["title"], row["detail"]) == (
            "已跳过",
            "DICOMDIR 索引文件（已跳过）",
            "DICOMDIR 只是其他文件的索引，已跳过。",
        )


def test_subject_codes_and_mapping_pages_in_chinese(client, study):
    client.force_login(study.created_by)
    url = reverse("study-subject-codes", args=[study.pk])
    html = _page(client, url)
    for text in (
        "<h1>受试者编码</h1>",
        "<h2>导入前分配编码</h2>",
        "编码为3–16 个字母（A–Z）、数字或连字符，以字母或数字开头；",
        "检查并保存",
        "<h2>重新编码本研究</h2>",
        "本研究尚无病例：没有可替换的编码。",
        "将全部 0 个编码替换为随机编码",
    ):
        assert text in html, text
    assert "Assign codes before importing" not in html
    missing = client.post(url, {}, follow=True, **ZH).content.decode()
    assert "请选择要上传的受试者编码 CSV 文件。" in missing
    upload = SimpleUploadedFile("codes.csv", b"patient_id,subject_code\nP1,x\n", content_type="text/csv")
    rejected = client.post(url, {"file": upload}, **ZH)
    assert rejected.status_code == 400
    body = rejected.content.decode()
    assert "“codes.csv”被拒绝——未保存任何数据" in body and "1 个问题。请修正文件后重新上传。" in body
    keys = _page(client, reverse("study-subject-keys", args=[study.pk]))
    assert "<h1>受试者对照表</h1>" in keys and "<h2>无对照表</h2>" in keys and "本研究未保留任何原始患者 ID。" in keys
    assert "<h1>Subject codes</h1>" in _page(client, url, EN)


def test_reference_data_page_in_chinese(client, study):
    client.force_login(study.created_by)
    url = reverse("study-reference", args=[study.pk])
    html = _page(client, url)
    shown = ("<h1>参考数据</h1>", "<h2>导入 CSV</h2>", "每名受试者一行", "下载模板", "尚无参考数据。", "请先导入图像")
    for text in shown:
        assert text in html, text
    missing = client.post(url, {}, follow=True, **ZH).content.decode()
    assert "请选择要上传的参考数据 CSV 文件。" in missing
    assert "<h2>Import a CSV</h2>" in _page(client, url, EN)


def test_exports_tab_and_dashboard_messages_in_chinese(client, study):
    client.force_login(study.created_by)
    html = _page(client, reverse("analytics-exports", args=[study.pk]))
    for text in (
        "<h2>分析快照</h2>",
        "生成快照（.zip）",
        "所有已提交阅片的 DICOM SR（.zip）",
        "DICOM 结构化报告（TID 1500 测量报告）",
        "<h2>数据（CSV）</h2>",
        '<th scope="col">含义</th>',
        "全部表格（XLSX）",
    ):
        assert text in html, text
    refreshed = client.post(reverse("analytics-refresh", args=[study.pk]), follow=True, **ZH).content.decode()
    assert "已加入重新计算队列。" in refreshed or "无法连接任务队列；分析将在稍后重新计算。" in refreshed
    assert "<h2>Analysis snapshot</h2>" in _page(client, reverse("analytics-exports", args=[study.pk]), EN)


def test_pre_submit_checks_of_the_viewer_in_chinese(world, client):
    client.force_login(world.reader)
    url = reverse("api-read-checks", args=[world.read.pk])
    problems = client.get(url, **ZH).json()["problems"]
    assert "请勾画L2 感兴趣区，或排除该椎体。" in problems
    assert "请勾画脑脊液感兴趣区（L3 水平）。" in problems
    assert not any("Draw" in p for p in problems)
    refused = client.post(reverse("api-read-submit", args=[world.read.pk]), **ZH)
    assert refused.status_code == 400 and "请勾画L2 感兴趣区，或排除该椎体。" in refused.content.decode()
    english = client.get(url, **EN).json()["problems"]
    assert "Draw the L2 ROI or exclude the level." in english and "Draw the CSF ROI (at L3)." in english


def test_hospital_dicom_page_errors_in_chinese(client, study):
    from tests.dicom_net.conftest import free_port

    client.force_login(study.created_by)
    url = reverse("study-dicom-network", args=[study.pk])
    bad = client.post(url, {"action": "set_ae", "ae_title": "BACK\\SLASH"}, **ZH)
    assert bad.status_code == 400 and "AE 标题为 1 到 16 个字母、数字或符号" in bad.content.decode()
    other = f.make_study(study.created_by, name="Other")
    DicomReceiver.objects.create(study=other, ae_title="TAKEN_AE", created_by=study.created_by)
    taken = client.post(url, {"action": "set_ae", "ae_title": "TAKEN_AE"}, **ZH)
    assert taken.status_code == 400 and "TAKEN_AE 已被本服务器上的另一项研究使用。" in taken.content.decode()
    basic = client.post(
        url, {"action": "add_server", "name": "PACS", "url": "http://pacs.example/dicom-web", "auth": "basic"}, **ZH
    )
    assert basic.status_code == 400
    assert "请输入 HTTP Basic 认证的用户名。" in basic.content.decode() and "请输入密码。" in basic.content.decode()
    down = f"http://127.0.0.1:{free_port()}/dicom-web"
    assert client.post(url, {"action": "add_server", "name": "Down", "url": down, "auth": "none"}).status_code == 302
    server = study.dicomweb_servers.get()
    found = client.post(url, {"action": "search", "server": server.pk, "patient_id": "P1"}, **ZH)
    assert found.status_code == 400 and f"无法通过 {down} 连接 Down" in found.content.decode()
    empty = client.post(url, {"action": "search", "server": server.pk}, **ZH)
    assert "请输入患者 ID、检查号或检查日期进行检索。" in empty.content.decode()


def test_csv_row_errors_in_chinese(client, study):
    client.force_login(study.created_by)
    codes = SimpleUploadedFile("codes.csv", b"patient_id,subject_code\nP1,x\nP1,S-AB12\n", content_type="text/csv")
    body = client.post(reverse("study-subject-codes", args=[study.pk]), {"file": codes}, **ZH).content.decode()
    assert "“x”不是有效的编码：编码应为3–16 个字母（A–Z）、数字或连字符，以字母或数字开头。" in body
    assert "重复：该患者 ID 已出现在第 2 行。" in body
    f.make_case(study, "VBQ-001")
    reference = SimpleUploadedFile(
        "ref.csv", b"subject_code,reference_modality,bmd,sex\nVBQ-001,DEXA,120,X\nNOPE,QCT,,\n", content_type="text/csv"
    )
    body = client.post(reverse("study-reference", args=[study.pk]), {"file": reference}, **ZH).content.decode()
    assert "120 超出 DEXA 的范围：骨密度（BMD）应以 g/cm² 为单位" in body
    assert "——这看起来像以 mg/cm³ 为单位的 QCT 值；请检查检查方法或单位。" in body
    assert "“X”不是有效的性别：请填写 F 或 M（female / male）。" in body
    assert "未知受试者“NOPE”：本研究中没有病例使用该编码。" in body
    english = SimpleUploadedFile("ref.csv", b"subject_code,reference_modality\nNOPE,QCT\n", content_type="text/csv")
    body = client.post(reverse("study-reference", args=[study.pk]), {"file": english}, **EN).content.decode()
    assert "unknown subject “NOPE”: no case of this study has this code." in body


def test_reads_page_action_errors_and_import_retry_refusal_in_chinese(world, client):
    client.force_login(world.pi)
    url = reverse("study-read-action", args=[world.study.pk, world.read.pk])
    no_reason = client.post(url, {"action": "void", "reason": " "}, **ZH)
    assert no_reason.status_code == 400 and "必须填写原因。" in no_reason.content.decode()
    same = client.post(url, {"action": "reassign", "reader": world.reader.pk, "reason": "typo"}, **ZH)
    assert "该阅片已属于这位阅片者。" in same.content.decode()
    job = ImportJob.objects.create(study=world.study, source="/nonexistent/x.zip", status=ImportJob.Status.DONE)
    retried = client.post(reverse("study-import-retry", args=[world.study.pk, job.pk]), follow=True, **ZH)
    assert "该导入已完成；如需再次导入，请重新上传文件。" in retried.content.decode()


def test_reads_page_labels_and_upload_limit_in_chinese(world, client, settings):
    client.force_login(world.pi)
    html = _page(client, reverse("study-reads", args=[world.study.pk]))
    assert 'aria-label="对 reader 的 VBQ-001 第 1 轮阅片执行的操作"' in html
    settings.UPLOAD_MAX_BYTES = 10
    upload = SimpleUploadedFile("images.zip", b"PK" + b"\0" * 100, content_type="application/zip")
    refused = client.post(reverse("study-imports", args=[world.study.pk]), {"file": upload}, follow=True, **ZH)
    assert "可接受的最大上传为 10 bytes" in refused.content.decode()


def test_roi_save_refusals_shown_by_the_viewer_in_chinese(world, client):
    client.force_login(world.reader)
    rois = reverse("api-read-roi-list", args=[world.read.pk])
    stale = client.patch(
        reverse("api-read-roi-detail", args=[world.read.pk, world.roi.pk]),
        {"version": world.roi.version + 5, "label": "L1"},
        content_type="application/json",
        **ZH,
    )
    assert stale.status_code == 409, stale.content
    assert stale.json()["detail"] == "该感兴趣区已在别处（另一个标签页或窗口）被更改；现显示最新版本。"
    world.study.locked = True
    world.study.save(update_fields=["locked"])
    locked = client.post(rois, f.roi_payload(world.case, "L2"), content_type="application/json", **ZH)
    assert locked.status_code == 403 and locked.json()["detail"] == "研究已锁定：感兴趣区不能再更改。"
    english = client.post(rois, f.roi_payload(world.case, "L2"), content_type="application/json", **EN)
    assert english.json()["detail"] == "The study is locked: ROIs can no longer be changed."


def test_every_csv_column_meaning_is_shown_in_chinese(client, study):
    from analytics.export_meanings import shown_columns
    from analytics.sections.exports import ROI_COLUMNS, SCORE_COLUMNS, SUBJECT_COLUMNS

    for columns in (ROI_COLUMNS, SCORE_COLUMNS, SUBJECT_COLUMNS):
        with translation.override("zh-hans"):
            chinese = shown_columns(columns)
        untranslated = [name for name, meaning in chinese if meaning == columns[name]]
        assert untranslated == []
        with translation.override("en-gb"):
            assert shown_columns(columns) == list(columns.items())  # the CSV's own English documentation
    client.force_login(study.created_by)
    html = _page(client, reverse("analytics-exports", args=[study.pk]))
    assert "<td><code>case</code></td><td>受试者编码</td>" in html
    assert "<td><code>vbq</code></td><td>VBQ = SI(L1–L4) 中位数 / SI(脑脊液)</td>" in html


def test_the_job_sweeps_messages_are_shown_in_chinese(client, study, settings):
    from vbqsite.jobs import job_error_shown, never_started_message, stopped_message

    settings.JOB_HEARTBEAT_TIMEOUT_SECONDS = 120
    job = ImportJob.objects.create(
        study=study, source="x.zip", status=ImportJob.Status.FAILED, error=stopped_message("import")
    )
    client.force_login(study.created_by)
    html = _page(client, reverse("study-import-detail", args=[study.pk, job.pk]))
    assert "运行该导入任务的后台进程已停止（2 分钟无响应）；请重新运行。" in html
    english = _page(client, reverse("study-import-detail", args=[study.pk, job.pk]), EN)
    assert "The worker running this import stopped (no sign of life for 2 minutes); run it again." in english
    with translation.override("zh-hans"):
        assert job_error_shown(never_started_message("snapshot"), "snapshot").startswith(
            "没有后台进程接收该快照生成任务"
        )
        assert job_error_shown("Something else.", "import") == "Something else."


def test_a_pull_is_confirmed_in_chinese(client, study):
    from tests.dicom_net.conftest import free_port

    server = DicomWebServer.objects.create(
        study=study, name="PACS", url=f"http://127.0.0.1:{free_port()}/dicom-web", created_by=study.created_by
    )
    client.force_login(study.created_by)
    url = reverse("study-dicom-network", args=[study.pk])
    pulled = client.post(url, {"action": "pull", "server": server.pk, "pick": "1.2.3|"}, follow=True, **ZH)
    assert pulled.status_code == 200
    assert "正在从 PACS 拉取 1 项：请在下方查看导入进度。" in pulled.content.decode()


# ---------------------------------------------------------------------------------------------- no English left
#
# Every page a PI, a reader and an admin can open, asked for in Chinese, and the viewer's page config: no run of
# 3 or more English words may be shown outside what is English on purpose — marked ``lang="en"`` (the dashboard's
# statistical tables and their method notes, stored import reasons), code (``<code>``, ``<kbd>``), URLs, names
# and abbreviations (all-capital words such as VBQ, SNR, ICC, DICOM, ROI, CSV, PACS, and the users' and studies'
# names below). Django's own admin pages are not ours to translate and are left out.

_VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}
_UNSHOWN = {"script", "style", "template", "code", "kbd", "samp", "pre"}
_SHOWN_ATTRIBUTES = ("title", "aria-label", "placeholder", "alt")
_WORD = re.compile(r"[A-Za-z][A-Za-z'’]*(?:-[A-Za-z]+)*")
_WORD_RUN = re.compile(r"[A-Za-z][A-Za-z'’\-]*(?:[\s,;:()/.\"“”‘’!?–—-]+[A-Za-z][A-Za-z'’\-]*)+")
_URL = re.compile(r"(?:https?://|/)\S*")
#: Names in the test data (users, studies) and words that are the same in a Chinese sentence.
NAMES = {"pi", "reader", "other_reader", "admin", "reader1", "reader2", "reader3", "vbq", "vs", "qct", "synthetic"}


class _ShownText(HTMLParser):
    """The text a person sees (and hears: title, aria-label, alt) of an HTML page, and its JSON script blocks."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.open: list[tuple[str, bool]] = []  # (tag, not shown / English on purpose)
        self.texts: list[str] = []
        self.json: list[str] = []
        self._in_json = False

    def handle_starttag(self, tag, attrs):
        a = {k: v or "" for k, v in attrs}
        hidden = (self.open and self.open[-1][1]) or tag in _UNSHOWN or a.get("lang", "").startswith("en")
        self._in_json = tag == "script" and a.get("type") == "application/json"
        if not hidden:
            self.texts += [a[k] for k in _SHOWN_ATTRIBUTES if a.get(k)]
            if tag == "input" and a.get("type") in ("submit", "button"):
                self.texts.append(a.get("value", ""))
        if tag not in _VOID:
            self.open.append((tag, bool(hidden)))

    def handle_endtag(self, tag):
        for i in range(len(self.open) - 1, -1, -1):
            if self.open[i][0] == tag:
                del self.open[i:]
                break
        self._in_json = False

    def handle_data(self, data):
        if self._in_json:
            self.json.append(data)
        elif not (self.open and self.open[-1][1]):
            self.texts.append(data)


def _strings(value) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


def english_runs(text: str, n: int = 3) -> list[str]:
    """The stretches of ``text`` holding ``n`` or more consecutive English words (names and capitals left out)."""
    runs = []
    for m in _WORD_RUN.finditer(_URL.sub(" ", text)):
        longest = current = 0
        for word in _WORD.findall(m.group(0)):
            plain = word.lower() in NAMES or word.isupper()
            current = 0 if plain else current + 1
            longest = max(longest, current)
        if longest >= n:
            runs.append(m.group(0))
    return runs


def english_shown(html: str) -> list[str]:
    """The shown texts of a page (and the string values with a space of its JSON config) with English in them."""
    parser = _ShownText()
    parser.feed(html)
    texts = [" ".join(t.split()) for t in parser.texts]
    texts += [s for blob in parser.json for s in _strings(json.loads(blob)) if " " in s]
    return [t for t in texts if english_runs(t)]


def test_the_english_finder():
    assert english_runs("Reading progress of the study") == ["Reading progress of the study"]
    assert english_runs("阅片进度 reader1 VBQ vs QCT — 已提交") == []
    assert english_runs("请查看 https://pacs.example.org/dicom-web/studies 的说明") == []
    html = (
        '<p title="Every submitted read">x</p><div lang="en"><p>Kept in English on purpose</p></div>'
        "<code>manage.py stats icc-sample-size</code><script>var a = 'not shown at all';</script>"
        '<script type="application/json">{"help": "Draw the ellipse here", "url": "/api/reads/1/rois/"}</script>'
    )
    assert english_shown(html) == ["Every submitted read", "Draw the ellipse here"]


EMPTY_REASON = "The file is empty (0 bytes)."


@pytest.fixture
def full_world(world, settings, tmp_path):
    """``world`` plus a computed synthetic study of the same PI (every dashboard table, figure and message), import
    jobs in each state, a read of each status and a submitted read its reader may open."""
    from analytics import tasks
    from analytics.synthetic import synthetic_study
    from studies.models import Read

    settings.VAR_DIR = tmp_path / "var"
    syn = synthetic_study(n_cases=20, seed=7, pi=world.pi, name="Synthetic")
    assert tasks.study_analytics_refresh(syn.study.pk)["failed"] == []
    jobs = [
        ImportJob.objects.create(
            study=world.study,
            source="x.zip",
            status=ImportJob.Status.DONE,
            total=2,
            done=2,
            rejected=1,
            report=[{"file": "a.dcm", "outcome": "rejected", "code": "empty", "reason": EMPTY_REASON}],
        ),
        ImportJob.objects.create(study=world.study, source="y.zip", status=ImportJob.Status.RUNNING, total=5, done=2),
        ImportJob.objects.create(study=world.study, source="z.zip", status=ImportJob.Status.FAILED, error=QUEUE_DOWN),
    ]
    submitted = syn.study.reads.filter(status=Read.Status.SUBMITTED).order_by("-read_number", "pk").first()
    return type("FullWorld", (), {"w": world, "syn": syn.study, "jobs": jobs, "submitted": submitted})


def _pages(fw) -> dict[str, list[str]]:
    from django.contrib.auth.tokens import default_token_generator
    from django.utils.encoding import force_bytes
    from django.utils.http import urlsafe_base64_encode

    w, syn = fw.w, fw.syn
    study_pages = (
        "study-detail",
        "study-settings",
        "study-imports",
        "study-dicom-network",
        "study-cases",
        "study-reads",
        "study-reference",
        "study-subject-codes",
        "study-subject-keys",
        "study-audit",
        "analytics-overview",
        "analytics-agreement",
        "analytics-table1",
        "analytics-groups",
        "analytics-roc",
        "analytics-correlation",
        "analytics-exports",
    )
    agreement = reverse("analytics-agreement", args=[syn.pk])
    roc = reverse("analytics-roc", args=[syn.pk])
    invited = f.make_user("invited")
    uid = urlsafe_base64_encode(force_bytes(invited.pk))
    return {
        "pi": [
            reverse("home"),
            reverse("study-list"),
            *(reverse(name, args=[s.pk]) for s in (w.study, syn) for name in study_pages),
            *(reverse("study-import-detail", args=[w.study.pk, job.pk]) for job in fw.jobs),
            f"{agreement}?ss_icc=0.8&ss_null=0.6",
            f"{agreement}?ss_icc=abc&ss_null=0.6&ss_raters=2.5",
            f"{roc}?outcome=op_vs_rest",
            f"{roc}?outcome=low_vs_normal",
            reverse("read-viewer", args=[w.read.pk]),
            reverse("read-viewer", args=[fw.submitted.pk]),
            reverse("notification-preferences"),
            reverse("password-change"),
            reverse("password-change-done"),
        ],
        "reader": [
            reverse("home"),
            reverse("study-detail", args=[w.study.pk]),
            reverse("read-viewer", args=[w.read.pk]),
            reverse("notification-preferences"),
        ],
        "submitted reader": [reverse("study-detail", args=[syn.pk]), reverse("read-viewer", args=[fw.submitted.pk])],
        "admin": [
            reverse("study-list"),
            reverse("site-audit"),
            reverse("study-create"),
        ],
        "anonymous": [
            reverse("login"),
            reverse("password-set", args=[uid, default_token_generator.make_token(invited)]),
            reverse("password-set-done"),
        ],
    }


def test_no_english_sentences_on_any_page_in_chinese(full_world, client):
    fw = full_world
    users = {"pi": fw.w.pi, "reader": fw.w.reader, "submitted reader": fw.submitted.reader, "admin": fw.w.admin}
    found = {}
    for who, urls in _pages(fw).items():
        client.logout()
        if who in users:
            client.force_login(users[who])
        for url in urls:
            response = client.get(url, follow=True, **ZH)
            assert response.status_code == 200, (who, url)
            html = response.content.decode()
            assert '<html lang="zh-hans">' in html, (who, url)
            for text in english_shown(html):
                found.setdefault(text, f"{who} {url}")
    assert found == {}


def test_english_pages_keep_their_words(full_world, client):
    """The translations are the page's only change: in English every dashboard table keeps its stored title."""
    from analytics.models import AnalysisCache
    from analytics.shown import table_title_shown

    with translation.override("en-gb"):
        for row in AnalysisCache.objects.filter(study=full_world.syn):
            for tab in row.result.get("tables", []):
                assert table_title_shown(tab["id"], tab["title"], row.section) == tab["title"]
    client.force_login(full_world.w.pi)
    html = _page(client, reverse("analytics-agreement", args=[full_world.syn.pk]) + "?ss_icc=0.8", EN)
    assert "<h2>Bland–Altman agreement</h2>" in html and "Readers (ratings per case)" in html
    assert "The agreement you expect between readers" in html and ' lang="en"' not in html


def test_form_and_service_refusals_in_chinese(world, client):
    """The settings' cross-field rules, the member form's unknown account, the ICC reader set and a damaged zip's
    job error: in Chinese, with no English sentence left on the page; English unchanged."""
    client.force_login(world.pi)
    study = world.study
    settings_url = reverse("study-settings", args=[study.pk])
    form = {
        "name": "VBQ vs QCT",
        "min_levels_vbq": 9,
        "roi_area_min_mm2": 100,
        "roi_area_max_mm2": 50,
        "washout_days": 0,
        "reads_per_reader": 1,
        "roi_statistic": "mean",
        "noise_correction": "raw",
        "reader_roi_stats": "quality",
        "consensus_rule": "first_reads",
        "date_handling": "shift",
    }
    refused = client.post(settings_url, form, **ZH)
    html = refused.content.decode()
    assert "VBQ 由 1 到 4 个已测量椎体（L1–L4）计算，不能为 9。" in html
    assert "可接受的最大感兴趣区面积（50 mm²）必须大于最小面积（100 mm²）。" in html
    assert "无：阅片者看不到感兴趣区统计量" in html and "各阅片者第一轮阅片的平均值" in html
    assert english_shown(html) == []
    english = client.post(settings_url, form, **EN).content.decode()
    assert "The VBQ is computed from 1 to 4 measured levels (L1–L4), not 9." in english
    assert "The largest accepted ROI area (50 mm²) must be larger than the smallest (100 mm²)." in english

    members = reverse("study-member-add", args=[study.pk])
    html = client.post(members, {"identifier": "nobody", "role": "reader"}, follow=True, **ZH).content.decode()
    assert "没有名为“nobody”的账户。如需邀请新成员，请填写其电子邮件地址。" in html and english_shown(html) == []

    readers = reverse("analytics-agreement-readers", args=[study.pk])
    html = client.post(readers, {"reader": [world.reader.pk]}, follow=True, **ZH).content.decode()
    assert "阅片者间 ICC 至少需要 2 位阅片者" in html and english_shown(html) == []
    html = client.post(readers, {"reader": [world.pi.pk, world.reader.pk]}, follow=True, **ZH).content.decode()
    assert f"用户 {world.pi.pk} 不是本研究的阅片者。" in html

    damaged = "The upload is not a valid zip file (it may be cut short or damaged)."
    job = ImportJob.objects.create(study=study, source="x.zip", status=ImportJob.Status.FAILED, error=damaged)
    html = _page(client, reverse("study-import-detail", args=[study.pk, job.pk]))
    assert "上传的文件不是有效的 zip 文件（可能不完整或已损坏）。" in html and english_shown(html) == []
    assert damaged in _page(client, reverse("study-import-detail", args=[study.pk, job.pk]), EN)
