"""The counter's "open a dossier" form records the citizen's consent to notifications: an
e-mail, the consent and the channels; a choice that cannot be honoured comes back beside its
field, in Vietnamese, with everything typed kept."""

from __future__ import annotations

import re
from typing import Any

from dossiers.models import Dossier
from storage.db import session_scope
from tests.web.conftest import Site

FORM = {
    "procedure_code": "1.001193",
    "name": "Trần Thị Bích Ngọc",
    "id_type": "CCCD",
    "id_number": "001190012345",
    "phone": "0912 345 678",
    "address": "12 Lê Lợi, phường Hòa Bình",
    "email": "ngoc.tran@example.vn",
    "sets": "1",
    "collect_at": "counter",
    "channel": "1",
}


def _post(site: Site, data: dict[str, Any]) -> Any:
    form = {"csrf": site.csrf("/web/counter"), **data}
    return site.client.post("/web/dossiers", data=form, follow_redirects=False)


def test_the_form_offers_and_records_consent(site: Site) -> None:
    site.sign_in("lan.nt")
    page = site.client.get("/web/procedures/1.001193")
    assert "Thông báo về hồ sơ" in page.text and 'name="notify_channels" value="zalo"' in page.text
    made = _post(site, {**FORM, "notify_consent": "1", "notify_channels": ["email", "zalo"]})
    assert made.status_code == 303, made.text
    found = re.fullmatch(r"/web/dossiers/([0-9a-f]{32})", made.headers["location"])
    assert found
    with session_scope(site.world.services.sessions) as session:
        row = session.get(Dossier, found.group(1))
        assert row is not None
        assert (row.notify_consent, row.notify_channels, row.applicant_email) == (
            True,
            ["email", "zalo"],
            "ngoc.tran@example.vn",
        )
    # The dossier's page tells the clerk what the citizen will hear, and where.
    shown = site.client.get(made.headers["location"]).text
    assert "ngoc.tran@example.vn" in shown and "email, zalo" in shown
    plain = _post(site, {**FORM, "email": ""})
    assert (
        "Chưa đồng ý nhận; không gửi thông báo" in site.client.get(plain.headers["location"]).text
    )


def test_a_choice_that_cannot_be_honoured_comes_back_beside_its_field(site: Site) -> None:
    site.sign_in("lan.nt")
    landline = _post(
        site,
        {**FORM, "phone": "024 3825 1234", "notify_consent": "1", "notify_channels": ["sms"]},
    )
    assert landline.status_code == 422
    assert "Nhận tin SMS và Zalo cần số điện thoại di động Việt Nam" in landline.text
    assert 'id="phone-error"' in landline.text and 'value="024 3825 1234"' in landline.text
    assert 'value="sms" checked' in landline.text and 'name="notify_consent" value="1" checked' in (
        landline.text
    )
    unconsented = _post(site, {**FORM, "notify_channels": ["email"]})
    assert unconsented.status_code == 422
    assert "Đánh dấu sự đồng ý của người nộp" in unconsented.text
    unknown = _post(site, {**FORM, "notify_consent": "1", "notify_channels": ["fax"]})
    assert unknown.status_code == 422 and "Chọn ít nhất một kênh" in unknown.text
    bad_mail = _post(site, {**FORM, "email": "ngoc.tran@"})
    assert bad_mail.status_code == 422 and 'id="email-error"' in bad_mail.text
    with session_scope(site.world.services.sessions) as session:
        assert session.query(Dossier).count() == 0
