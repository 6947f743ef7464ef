"""``digestbot subscribers import/list/export/remove``: what the operator sees, who gets mail."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import write
from digestbot.cli import main

CSV = """\
email,lang
Ann@Example.COM,zh
bob@example.com,
not-an-address,en
carol@example.com,klingon
dan@example.com,both
"""


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_import_list_export_remove(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(env / "readers.csv", CSV)
    code, out, _ = run(capsys, "subscribers", "import", str(path), "--lang", "en")
    assert code == 0
    assert f"{path}:4: rejected 'not-an-address'" in out
    assert f"{path}:5: rejected" in out and "klingon" in out
    assert out.rstrip().endswith(f"imported {path}: 3 added, 0 updated, 0 unchanged, 2 rejected"), (
        out
    )
    code, out, _ = run(capsys, "subscribers", "import", str(path), "--lang", "en")
    assert code == 0 and "0 added, 0 updated, 3 unchanged, 2 rejected" in out

    code, out, _ = run(capsys, "subscribers", "list")
    assert code == 0
    lines = out.splitlines()
    assert lines[-1] == "3 subscribers"
    for address in ("Ann@example.com", "bob@example.com", "dan@example.com"):
        assert any(address in line and "active" in line for line in lines), (address, out)
    assert "not-an-address" not in out and "carol" not in out

    code, out, _ = run(capsys, "subscribers", "export")
    assert code == 0
    rows = out.splitlines()
    assert rows[0] == "email,lang"
    assert sorted(rows[1:]) == ["Ann@example.com,zh", "bob@example.com,en", "dan@example.com,both"]

    code, out, _ = run(capsys, "subscribers", "remove", "bob@Example.COM")
    assert code == 0 and "removed bob@example.com" in out
    code, _, err = run(capsys, "subscribers", "remove", "nobody@example.com")
    assert code == 1 and "nobody@example.com is not a subscriber" in err
    code, out, _ = run(capsys, "subscribers", "export")
    assert "bob@example.com" not in out and "Ann@example.com,zh" in out

    # the removed reader gets no copy of the next issue; the others do
    assert main(["publish"]) == 0
    mails = sorted(p.name for p in (env / "outbox" / "mail").glob("*.eml"))
    assert mails == ["2024-W16-Ann@example.com.eml", "2024-W16-dan@example.com.eml"]


def test_import_of_a_missing_file_says_which(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "subscribers", "import", str(env / "nope.csv"))
    assert code == 1 and "cannot read" in err and "nope.csv" in err
