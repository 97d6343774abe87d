"""English and Simplified Chinese (issue #18 point 7): pages from the browser's language or the user's setting,
the header switcher, localised dates, and e-mails in each recipient's language."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone, translation

from notifications.digest import daily_digest_send
from notifications.language import SESSION_KEY
from notifications.models import NotificationPreference
from notifications.read_changes import read_changes_notify
from notifications.read_opened import read_opened_notify
from studies.models import Read
from studies.services.reading import read_reopen
from tests import factories as f

from .helpers import repeat_study

pytestmark = pytest.mark.django_db
ZH = {"HTTP_ACCEPT_LANGUAGE": "zh-CN,zh;q=0.9,en;q=0.5"}


@pytest.fixture(autouse=True)
def _english_after_each_test():
    yield
    translation.activate("en-gb")


def _html(response) -> str:
    assert response.status_code == 200
    return response.content.decode()


def _lang(html: str) -> str:
    return re.search(r'<html lang="([^"]+)">', html).group(1)


def test_the_login_page_follows_the_browser(client):
    html = _html(client.get("/login/", **ZH))
    assert _lang(html) == "zh-hans" and "<h1>登录</h1>" in html and '<label for="id_username">用户名</label>' in html
    assert 'value="zh-hans" lang="zh-hans" selected>简体中文</option>' in html  # the switcher shows the choice
    html = _html(client.get("/login/", HTTP_ACCEPT_LANGUAGE="en-US,en;q=0.9"))
    assert _lang(html) == "en-gb" and "<h1>Log in</h1>" in html
    assert "<h1>Log in</h1>" in _html(client.get("/login/"))  # no header: LANGUAGE_CODE


def test_key_pages_in_chinese_for_a_chinese_browser(world, client):
    client.force_login(world.pi)
    pages = {
        "/studies/": ["<h1>我的研究</h1>", '<th scope="col">您的角色</th>'],
        f"/studies/{world.study.pk}/": [
            "<h2>阅片进度</h2>",
            "创建 / 扩展阅片计划",
            "<dt>测量项目</dt>",
            "<dt>噪声标准差</dt>",
        ],
        f"/studies/{world.study.pk}/reads/": [
            "<h1>阅片</h1>",
            "筛选阅片",
            '<option value="not_started" >未开始</option>',
            "阅片轮次",
        ],
        f"/studies/{world.study.pk}/audit/": ["<h1>审计追踪", "导出 CSV", "时间（UTC）"],
        f"/studies/{world.study.pk}/analytics/": ["› 统计分析</p>", ">一致性</a>", ">相关性</a>", ">导出</a>"],
        "/account/email/": ["<h1>邮件设置</h1>", "病例可进行重复阅片", "浏览器的语言"],
        f"/reads/{world.read.pk}/": ["<h2>阅片者：reader</h2>", "尚未评分。", "本研究的所有阅片", "键盘和鼠标"],
        f"/studies/{world.study.pk}/imports/": ["<h1>导入图像</h1>", "上传并导入", "暂无导入记录。"],
        f"/studies/{world.study.pk}/cases/": ["<h1>病例</h1>", '<th scope="col">阅片序列</th>', "受试者编码"],
        f"/studies/{world.study.pk}/settings/": ["<h1>设置 — VBQ vs QCT</h1>", "洗脱期", "感兴趣区（ROI）的信号强度"],
    }
    for url, expected in pages.items():
        html = _html(client.get(url, **ZH))
        assert _lang(html) == "zh-hans", url
        for text in expected:
            assert text in html, (url, text)
        assert ">退出登录</button>" in html
    # statistical tables stay English (manuscripts): the Progress section's CSV link and table headers
    html = _html(client.get(f"/studies/{world.study.pk}/analytics/"))
    assert ">Agreement</a>" in html


def test_the_worklist_in_chinese_with_a_localised_date(world, client, settings):
    settings.TIME_ZONE = "UTC"
    repeat = f.make_read(world.case, world.reader, 2)
    world.study.reads_per_reader, world.study.washout_days = 2, 14
    world.study.save()
    Read.objects.filter(pk=world.read.pk).update(
        status=Read.Status.SUBMITTED, submitted_at=timezone.now() - timedelta(days=1)
    )
    client.force_login(world.reader)
    html = _html(client.get(f"/studies/{world.study.pk}/", **ZH))
    assert "<h2>第 1 轮阅片</h2>" in html and "<h2>第 2 轮阅片</h2>" in html
    opens = re.search(r"将于 (\d{4})年(\d{1,2})月(\d{1,2})日 (\d\d:\d\d) 开放（洗脱期）", html)
    assert opens, "the opening date in the Chinese date format"
    assert repeat.status == Read.Status.NOT_STARTED
    english = _html(client.get(f"/studies/{world.study.pk}/", HTTP_ACCEPT_LANGUAGE="en"))
    assert re.search(r"Opens on \d{1,2} [A-Z][a-z]{2} \d{4}", english)  # en-gb: 7 Dec 2026


def test_the_users_setting_wins_over_the_browser(world, client):
    NotificationPreference.objects.create(user=world.reader, language="zh-hans")
    response = client.post("/login/", {"username": "reader", "password": f.PASSWORD}, HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 302
    assert client.session[SESSION_KEY] == "zh-hans"
    html = _html(client.get("/studies/", HTTP_ACCEPT_LANGUAGE="en"))
    assert _lang(html) == "zh-hans" and "<h1>我的研究</h1>" in html


def test_choosing_a_language_on_the_settings_page(world, client):
    client.force_login(world.reader)
    form = {"read_opened": "on", "read_changed": "on", "daily_digest": "on", "language": "zh-hans"}
    response = client.post("/account/email/", form, HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 302
    assert NotificationPreference.objects.get(user=world.reader).language == "zh-hans"
    html = _html(client.get("/account/email/", HTTP_ACCEPT_LANGUAGE="en"))
    assert "邮件设置已保存。" in html and '<option value="zh-hans" selected>简体中文</option>' in html
    # back to "the browser's language": English again for an English browser
    client.post("/account/email/", {**form, "language": ""}, HTTP_ACCEPT_LANGUAGE="en")
    assert "<h1>E-mail settings</h1>" in _html(client.get("/account/email/", HTTP_ACCEPT_LANGUAGE="en"))


def test_a_bad_language_is_refused(world, client):
    client.force_login(world.reader)
    response = client.post("/account/email/", {"language": "xx"})
    assert response.status_code == 200 and "Select a valid choice" in response.content.decode()
    assert not NotificationPreference.objects.filter(user=world.reader).exists()


def test_the_header_switcher(world, client):
    # anonymous: a cookie only
    response = client.post("/i18n/setlang/", {"language": "zh-hans", "next": "/login/"})
    assert response.status_code == 302 and response["Location"] == "/login/"
    assert "<h1>登录</h1>" in _html(client.get("/login/", HTTP_ACCEPT_LANGUAGE="en"))
    # logged in: saved as the user's setting too
    client.force_login(world.pi)
    client.post("/i18n/setlang/", {"language": "en-gb", "next": "/studies/"})
    client.post("/i18n/setlang/", {"language": "zh-hans", "next": "/studies/"})
    assert NotificationPreference.objects.get(user=world.pi).language == "zh-hans"
    assert "<h1>我的研究</h1>" in _html(client.get("/studies/"))
    client.post("/i18n/setlang/", {"language": "en-gb", "next": "/studies/"})
    assert "<h1>Your studies</h1>" in _html(client.get("/studies/", **ZH))
    assert client.get("/i18n/setlang/").status_code == 405


def test_the_repeat_read_email_in_each_readers_language():
    w = repeat_study(n_cases=2)
    NotificationPreference.objects.create(user=w.alice, language="zh-hans")
    assert read_opened_notify() == {"reads": 2, "sent": 1}
    (message,) = mail.outbox
    assert message.subject == "[VBQ Reader] VBQ vs QCT：2 个病例可进行您的第二次阅片"
    assert message.body.startswith("alice，您好：\n\n洗脱期已结束（或 PI 已提前开放）：")
    assert "- 研究“VBQ vs QCT”中有 2 个病例可进行您的第二次阅片：" in message.body
    assert "您收到这封邮件，是因为您在 VBQ Reader 邮件设置中开启了“病例可进行重复阅片”。" in message.body
    assert translation.get_language() == "en-gb"  # the override ends with the e-mail


def test_the_pi_action_email_in_chinese_and_english_side_by_side(world):
    NotificationPreference.objects.create(user=world.reader, language="zh-hans")
    read_reopen(read=world.read, user=world.pi, reason="redo")
    read_reopen(read=world.other_read, user=world.pi, reason="redo")
    assert read_changes_notify() == {"sent": 2}
    by_user = {m.to[0]: m for m in mail.outbox}
    zh, en = by_user["reader@example.org"], by_user["other_reader@example.org"]
    assert zh.subject == "[VBQ Reader] PI 更改了您在 VBQ vs QCT 中的阅片"
    assert "  - 已重新开放供您修改：您第一次阅片中的 1 个病例（已回到您的工作列表）" in zh.body
    assert en.subject == "[VBQ Reader] The PI changed your reads in VBQ vs QCT"
    assert "Reopened for you to correct: 1 case of your first read" in en.body


def test_the_digest_in_each_pis_language(settings):
    settings.NOTIFY_DIGEST_HOUR = 0
    w = repeat_study(n_cases=2)
    second_pi = f.make_user("pi2")
    f.add_member(w.study, second_pi, role="pi")
    NotificationPreference.objects.create(user=w.pi, language="zh-hans")
    assert daily_digest_send() == {"sent": 2}
    by_user = {m.to[0]: m for m in mail.outbox}
    zh, en = by_user["pi@example.org"], by_user["pi2@example.org"]
    assert zh.subject == "[VBQ Reader] VBQ vs QCT 每日进度：已提交 2 / 8 次阅片"
    assert re.search(r"研究“VBQ vs QCT”截至 \d{4}年\d{1,2}月\d{1,2}日 星期. 的进度：", zh.body)
    assert "Reader  Read  Submitted  To do" in zh.body  # the table keeps its English column names
    assert en.subject == "[VBQ Reader] Daily progress of VBQ vs QCT: 2 of 8 reads submitted"
    assert re.search(r'Progress of the study "VBQ vs QCT" on [A-Z][a-z]+day \d{1,2} [A-Z][a-z]+ \d{4}:', en.body)


def test_the_invitation_email_in_the_pis_language(world, client):
    client.force_login(world.pi)
    response = client.post(
        f"/studies/{world.study.pk}/members/", {"identifier": "new@example.org", "role": "reader"}, **ZH
    )
    assert response.status_code == 302
    (message,) = mail.outbox
    assert message.subject == "您已受邀参加 VBQ Reader 研究“VBQ vs QCT”"
    assert "pi 已将您以阅片者身份加入研究“VBQ vs QCT”。" in message.body


def test_csv_and_api_stay_machine_readable_in_chinese(world, client):
    """Column names of the CSV exports and the API's keys and values are the same whatever the page language."""
    client.force_login(world.pi)
    csv_zh = b"".join(client.get(f"/studies/{world.study.pk}/audit.csv", **ZH).streaming_content).decode()
    csv_en = b"".join(client.get(f"/studies/{world.study.pk}/audit.csv").streaming_content).decode()
    assert csv_zh.splitlines()[0] == csv_en.splitlines()[0] and csv_zh.isascii()
    api = client.get(f"/api/studies/{world.study.pk}/", **ZH).json()
    assert api == client.get(f"/api/studies/{world.study.pk}/").json()
