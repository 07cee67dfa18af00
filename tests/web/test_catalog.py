"""The one message catalog: every text of the pages and every problem type has its
Vietnamese, and the catalog holds nothing the code no longer says."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_every_text_has_its_vietnamese() -> None:
    check = subprocess.run(
        [sys.executable, "scripts/messages.py", "--check"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    assert check.returncode == 0, check.stdout + check.stderr


def test_the_catalog_is_what_the_pages_read() -> None:
    from core.i18n import gettext_for

    vi, en = gettext_for("vi"), gettext_for("en")
    assert vi("Sign in") == "Đăng nhập"
    assert en("Sign in") == "Sign in"
    assert vi("Welcome, {name}", name="Lan") == "Xin chào, Lan"
