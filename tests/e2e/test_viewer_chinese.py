"""The viewer in Simplified Chinese (issue #18 point 7): Django renders the page chrome in the reader's language
(browser or setting) and the viewer's own strings come from its zh-hans catalogue (frontend/src/viewer/
messages-zh.js), chosen from <html lang>. Under the site's CSP, with no console error."""

from __future__ import annotations

import pytest

from notifications.models import NotificationPreference
from studies.models import Read

from .conftest import login, until, watch

pytestmark = pytest.mark.e2e


def _open_first_read(page, reading_study) -> None:
    read = Read.objects.filter(reader=reading_study.reader, read_number=1).order_by("order_index").first()
    page.goto(f"/reads/{read.pk}/")
    page.wait_for_selector('body[data-ready="1"], body[data-error]', state="attached", timeout=30_000)
    assert not page.evaluate("document.body.dataset.error")
    until(page, "document.querySelector('#vw-protocol li [class*=status], #vw-protocol li') !== null")


def _assert_chinese_viewer(page) -> None:
    assert page.evaluate("document.documentElement.lang") == "zh-hans"
    # Django's catalogue: the page chrome
    assert page.inner_text("#vw-submit").strip() == "提交阅片"
    assert page.inner_text(".vw-save-text").strip() == "所有更改已保存"
    assert "请按顺序勾画每个感兴趣区" in page.inner_text(".vw-hint")
    assert page.inner_text("#vw-help-title").strip() == "键盘和鼠标"
    assert page.get_attribute('[data-tool="EllipticalROI"]', "title") == "椭圆感兴趣区（E）"
    # The viewer's catalogue: strings written by the script
    presets = page.evaluate("[...document.querySelectorAll('#vw-preset option')].map(o => o.textContent)")
    assert any("T1 骨髓" in p for p in presets) and any("脑脊液" in p for p in presets), presets
    panel = page.inner_text("#vw-protocol")
    assert "待绘制" in panel and "to draw" not in panel, panel
    assert page.evaluate("document.querySelector('[data-remove]').textContent") == "删除"
    assert page.get_attribute("[data-select]", "title").startswith("下一个绘制")
    exclude = page.evaluate("document.querySelector('[data-exclude]')?.textContent")
    assert exclude in (None, "排除…")
    # The server's protocol words (studies.viewer_i18n): ROI names and help, exclusion reasons
    assert "脑脊液" in panel and "正中矢状位层面" in panel, panel
    assert page.evaluate("document.querySelector('option[value=fracture]')?.textContent") == "骨折"
    assert until(page, "document.getElementById('vw-slice').textContent").startswith("层面 ")


def test_the_viewer_in_chinese_from_the_browser_language(reading_study, browser, live_server):
    context = browser.new_context(viewport={"width": 1440, "height": 900}, base_url=live_server.url, locale="zh-CN")
    try:
        page = context.new_page()
        problems = watch(page)
        login(page, "reader")
        assert page.inner_text("h1").strip() == "我的研究"
        _open_first_read(page, reading_study)
        _assert_chinese_viewer(page)
        assert problems == []
    finally:
        context.close()


def test_the_viewer_in_chinese_from_the_users_setting(reading_study, browser, live_server):
    NotificationPreference.objects.create(user=reading_study.reader, language="zh-hans")
    context = browser.new_context(viewport={"width": 1440, "height": 900}, base_url=live_server.url, locale="en-GB")
    try:
        page = context.new_page()
        problems = watch(page)
        login(page, "reader")
        _open_first_read(page, reading_study)
        _assert_chinese_viewer(page)
        assert problems == []
        # and English for an English reader without a setting
        NotificationPreference.objects.filter(user=reading_study.reader).update(language="en-gb")
        page.click("header form.language button")  # the switcher posts the selected language (Chinese now)
        page.select_option("header form.language select", "en-gb")
        page.click("header form.language button")
        page.wait_for_selector('body[data-ready="1"]', state="attached", timeout=30_000)
        assert page.evaluate("document.documentElement.lang") == "en-gb"
        assert page.inner_text("#vw-submit").strip() == "Submit read"
        until(page, "document.querySelector('#vw-protocol').innerText.includes('to draw')")
        assert problems == []
    finally:
        context.close()
