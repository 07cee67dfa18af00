"""Dossier search on SQLite (FTS5) and a real PostgreSQL, schema built by the Alembic chain."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Select, func, inspect, select
from sqlalchemy.orm import Session, sessionmaker

from dossiers.records.search import (
    SearchEntry,
    SearchQueryInvalid,
    fold,
    include_name,
    index_entry,
    remove_entries,
    search,
)
from storage import db
from storage.models import Base

CODE_AN = "000.00.16.H08-261128-0001"
CODE_ANH = "000.00.16.H08-261128-0002"
OCR_BIRTH = (
    "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM\nĐộc lập - Tự do - Hạnh phúc\n\n"
    "TỜ KHAI ĐĂNG KÝ KHAI SINH\nKính gửi: Ủy ban nhân dân phường Bến Nghé"
)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'search.db'}"
    else:
        url = request.getfixturevalue("pg_database")
    db.upgrade(url)
    return url


@pytest.fixture
def sessions(database_url: str) -> Iterator[sessionmaker[Session]]:
    engine = db.make_engine(database_url)
    yield db.make_sessionmaker(engine)
    engine.dispose()


@pytest.fixture
def counter(sessions: sessionmaker[Session]) -> sessionmaker[Session]:
    """Two applicants whose names differ by one ending, and a birth registration form."""
    with db.session_scope(sessions) as s:
        index_entry(s, "d-an", "dossier", "d-an", f"{CODE_AN} Nguyễn Văn An 001090012345")
        index_entry(s, "d-anh", "dossier", "d-anh", f"{CODE_ANH} Nguyễn Văn Anh 001090012346")
        index_entry(s, "d-an", "document", "doc-birth", OCR_BIRTH)
        index_entry(s, "d-other", "dossier", "d-other", "000.00.16.H08-261127-0009 Trần Thị Bích")
    return sessions


def found(
    sessions: sessionmaker[Session], query: str, dossier_ids: Select[Any] | None = None
) -> list[tuple[str, str]]:
    with db.session_scope(sessions) as s:
        return [(h.dossier_id, h.ref_id) for h in search(s, query, dossier_ids=dossier_ids)]


@pytest.mark.parametrize(
    ("text", "folded"),
    [
        ("Nguyễn Văn An", "nguyen van an"),
        ("  ĐĂNG\tKÝ \n KHAI   SINH ", "dang ky khai sinh"),
        ("Đặng đình Đức", "dang dinh duc"),
        ("Nguye\u0302\u0303n", "nguyen"),  # decomposed input, as some scanners' OCR emits it
        ("Trường Ưng Ơn Ăn Ấn", "truong ung on an an"),
        ("12/2024/QĐ-UBND", "12/2024/qd-ubnd"),
        ("", ""),
    ],
)
def test_fold(text: str, folded: str) -> None:
    assert fold(text) == folded


def test_names_match_whole_words_without_diacritics(counter: sessionmaker[Session]) -> None:
    # Decided: no prefix match. "an" and "anh" are different names, so "an" must not find "Anh".
    assert found(counter, "nguyen van an") == [("d-an", "d-an")]
    assert found(counter, "NGUYỄN VĂN ANH") == [("d-anh", "d-anh")]
    assert sorted(found(counter, "van nguyen")) == [("d-an", "d-an"), ("d-anh", "d-anh")]
    assert found(counter, "nguyen van a") == []


@pytest.mark.parametrize("query", ["đăng ký", "dang ky", "ĐĂNG KÝ", "Dang   Ky khai sinh"])
def test_ocr_text_found_with_or_without_diacritics(
    counter: sessionmaker[Session], query: str
) -> None:
    with db.session_scope(counter) as s:
        hits = search(s, query)
    assert [(h.dossier_id, h.source, h.ref_id) for h in hits] == [("d-an", "document", "doc-birth")]
    assert "dang ky khai sinh" in hits[0].snippet
    assert len(hits[0].snippet) < len(fold(OCR_BIRTH))


@pytest.mark.parametrize(
    ("query", "dossier"),
    [
        (CODE_AN, "d-an"),
        (CODE_AN.lower(), "d-an"),
        (CODE_ANH, "d-anh"),
        ("261128-0001", "d-an"),  # the day and sequence part of a code, read over the phone
        ("001090012345", "d-an"),
        ("001090012346", "d-anh"),
    ],
)
def test_codes_and_id_numbers_match_exactly(
    counter: sessionmaker[Session], query: str, dossier: str
) -> None:
    assert found(counter, query) == [(dossier, dossier)]


@pytest.mark.parametrize(
    "query",
    [
        "000.00.16.H08-261128-0003",
        "00109001234",
        "261128.0001",  # other separator
        "261128-000",  # the words of a code are whole words too
        "0001-261128",  # other order
    ],
)
def test_near_miss_codes_find_nothing(counter: sessionmaker[Session], query: str) -> None:
    assert found(counter, query) == []


def test_dossier_ids_restrict_results(counter: sessionmaker[Session]) -> None:
    visible = select(SearchEntry.dossier_id).where(SearchEntry.dossier_id == "d-anh")
    assert found(counter, "nguyen van", dossier_ids=visible) == [("d-anh", "d-anh")]
    assert found(counter, "dang ky", dossier_ids=visible) == []
    assert found(counter, CODE_AN, dossier_ids=visible) == []


def test_index_entry_replaces_text(counter: sessionmaker[Session]) -> None:
    with db.session_scope(counter) as s:
        index_entry(s, "d-an", "document", "doc-birth", "Giấy chứng nhận quyền sử dụng đất")
    assert found(counter, "dang ky khai sinh") == []
    assert found(counter, "quyen su dung dat") == [("d-an", "doc-birth")]
    with db.session_scope(counter) as s:
        assert s.scalar(select(func.count()).select_from(SearchEntry)) == 4
        with pytest.raises(ValueError, match="unknown search source"):
            index_entry(s, "d-an", "email", "m1", "text")


def test_remove_entries(counter: sessionmaker[Session]) -> None:
    with db.session_scope(counter) as s:
        remove_entries(s, "d-an")
    assert found(counter, "nguyen van") == [("d-anh", "d-anh")]
    assert found(counter, "dang ky") == []
    assert found(counter, CODE_AN) == []


@pytest.mark.parametrize(
    "query",
    [
        '"a" OR b*',
        "nguyen OR dang",  # as FTS syntax this would match every entry but one
        "ngu*",
        "NEAR(nguyen van",
        "NEAR(",
        "nguyen NOT an",
        "folded:nguyen",
        '"',
        "*",
        "%",
        "_",
        "%nguy%",
        "000.00.16.H08-%",  # LIKE wildcards in a code are plain characters
        "261128-000_",
        "'; DROP TABLE search_entries; --",
        "x " * 5000,
        "nguyen" * 2000,
    ],
)
def test_hostile_queries_neither_fail_nor_match_everything(
    counter: sessionmaker[Session], query: str
) -> None:
    assert found(counter, query) == []
    assert found(counter, "nguyen van an") == [("d-an", "d-an")]  # the index is intact


def test_wildcards_are_plain_characters(counter: sessionmaker[Session]) -> None:
    assert found(counter, "%an%") == [("d-an", "d-an")]  # the word "an", not "anh"


def test_long_query_of_real_words_still_searches(counter: sessionmaker[Session]) -> None:
    assert sorted(found(counter, "nguyen van " * 3000)) == [("d-an", "d-an"), ("d-anh", "d-anh")]


@pytest.mark.parametrize("query", ["", "   ", "\t\n", "\u0301"])
def test_blank_query_is_invalid(counter: sessionmaker[Session], query: str) -> None:
    with db.session_scope(counter) as s, pytest.raises(SearchQueryInvalid) as caught:
        search(s, query)
    assert caught.value.code == "search_query_invalid"


def test_many_entries_most_relevant_then_newest_within_limit(
    sessions: sessionmaker[Session],
) -> None:
    with db.session_scope(sessions) as s:
        index_entry(s, "best", "document", "best", "Đăng ký thường trú; đăng ký thường trú")
        for i in range(2000):
            text = f"Tờ khai đăng ký thường trú số {i} của hộ gia đình"
            index_entry(s, f"bulk{i:04d}", "document", f"doc{i}", text)
    with db.session_scope(sessions) as s:
        hits = search(s, "thuong tru", limit=50)
        assert len(search(s, "ho gia dinh", limit=500)) == 200  # capped at MAX_LIMIT
    assert hits[0].dossier_id == "best"
    assert [h.dossier_id for h in hits[1:]] == [f"bulk{i:04d}" for i in range(1999, 1950, -1)]


def test_migration_matches_model_and_downgrades(database_url: str) -> None:
    engine = db.make_engine(database_url)

    def only_search(obj: object, name: str | None, type_: str, *_: object) -> bool:
        return type_ != "table" or name == SearchEntry.__tablename__

    with engine.connect() as conn:
        opts = {"include_name": include_name, "include_object": only_search}
        context = MigrationContext.configure(conn, opts=opts)
        assert compare_metadata(context, Base.metadata) == []
    command.downgrade(db.alembic_config(database_url), "0002_counter")
    assert not [t for t in inspect(engine).get_table_names() if t.startswith("search_")]
    engine.dispose()
