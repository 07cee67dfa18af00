"""Keep the one Vietnamese catalog in step with the web page and the API's problem types.

    python scripts/messages.py            # add new strings (empty), drop unused ones, report
    python scripts/messages.py --check    # exit 1 if a string lacks its Vietnamese
    python scripts/messages.py --merge F.po [G.po …]  # take the translations given, then update

Strings are found where ``_("...")`` is called, in ``web/templates`` (Jinja's extractor) and in
``web/**/*.py``, and where ``N_("...")`` marks them in ``api/problem_types.py``. Existing translations are kept; the catalog is written sorted so a diff shows
what changed.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parents[1]
PO = ROOT / "core" / "locale" / "vi" / "LC_MESSAGES" / "messages.po"
# Where to look, relative to the repository: the web page and the API's problem types.
METHODS = [
    ("web/templates/**.html", "jinja2"),
    ("web/**.py", "python"),
    ("api/problem_types.py", "python"),
]
OPTIONS = {"web/templates/**.html": {"trim_blocks": "true", "lstrip_blocks": "true"}}


def extract() -> dict[str, list[tuple[str, int]]]:
    found: dict[str, list[tuple[str, int]]] = {}
    for filename, lineno, message, _comments, _context in extract_from_dir(
        str(ROOT), METHODS, keywords={"_": None, "N_": None}, options_map=OPTIONS
    ):
        if isinstance(message, str):
            found.setdefault(message, []).append((filename, lineno))
    return found


def main(argv: list[str]) -> int:
    found = extract()
    old = Catalog(locale="vi")
    if PO.exists():
        with PO.open("rb") as fh:
            old = read_po(fh, locale="vi")
    given: dict[str, str] = {}
    if "--merge" in argv:
        for name in argv[argv.index("--merge") + 1 :]:
            with open(name, "rb") as fh:
                po = read_po(fh, locale="vi")
            given.update({str(m.id): str(m.string) for m in po if m.id and m.string})
    # Fixed header dates: the file changes only when a string does.
    epoch = datetime(2026, 1, 1, tzinfo=UTC)
    new = Catalog(
        locale="vi",
        project="sohoa",
        version="0.1",
        copyright_holder="sohoa",
        creation_date=epoch,
        revision_date=epoch,
        fuzzy=False,
    )
    missing = []
    for msgid in sorted(found):
        prior = old.get(msgid)
        text = given.get(msgid) or (prior.string if prior is not None else "")
        new.add(msgid, text, locations=found[msgid][:3])
        if not text:
            missing.append(msgid)
    if "--check" in argv:
        unused = [m.id for m in old if m.id and m.id not in found]
        for msgid in missing:
            print(f"no Vietnamese for: {msgid!r}")
        for msgid in unused:
            print(f"unused in the catalog: {msgid!r}")
        return 1 if missing or unused else 0
    PO.parent.mkdir(parents=True, exist_ok=True)
    with PO.open("wb") as fh:
        write_po(fh, new, width=100, sort_output=True, include_lineno=False)
    print(f"{len(found)} strings, {len(missing)} without Vietnamese")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
