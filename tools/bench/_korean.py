"""The Korean benchmark corpus: three real Korean documents by three authors, cut into the files
a user would import (one per chapter or section), written under a work folder.

Sources (unmodified copies in ``tools/bench/data/korean/``; see its README for the licences):

* ``debian-faq.ko.txt``: the Debian GNU/Linux FAQ in Korean, plain text with hard-wrapped lines
  (the ``debian-faq-ko`` Debian package); cut at its chapters (``N장.``), the front matter and
  table of contents left out;
* ``kotex-utf-doc.tex``: the ko.TeX (kotex-utf) manual by 김강수, LaTeX source (Debian's
  ``texlive-lang-korean``, CTAN ``kotex-utf``); cut at ``\\part``/``\\chapter``/``\\section``;
* ``pmhanguljamo-kdoc.tex``: the Korean manual of pmhanguljamo by Nova de Hi (same package,
  CTAN ``pmhanguljamo``); cut the same way.

The QA files name a document by the path of its file relative to the QA file
(``debian-faq/07.txt``), so ``prepare`` copies them next to the files it writes.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

DATA = Path(__file__).with_name("data") / "korean"
QA_FILES = ("korean_qa.jsonl", "korean_qa_holdout.jsonl")
_FAQ_CHAPTER = re.compile(r"^\d+장\. ", re.MULTILINE)
_MIN_CHARS = 300  # a heading with less text under it stays with the next section
_TEX_HEADING = re.compile(r"^\\(?:part|chapter|section)\*?\{")


def sources() -> dict[str, tuple[str, list[str]]]:
    """folder → (author, the texts of its files in order)."""
    faq = (DATA / "debian-faq.ko.txt").read_text(encoding="utf-8")
    return {
        "debian-faq": ("Debian Documentation Project", _cut(faq[_FAQ_CHAPTER.search(faq).start() :], _FAQ_CHAPTER)),
        "kotex-utf": ("김강수", _cut_tex((DATA / "kotex-utf-doc.tex").read_text(encoding="utf-8"))),
        "pmhanguljamo": ("Nova de Hi", _cut_tex((DATA / "pmhanguljamo-kdoc.tex").read_text(encoding="utf-8"))),
    }


def _cut(text: str, heading: re.Pattern) -> list[str]:
    parts: list[list[str]] = [[]]
    for line in text.splitlines(keepends=True):
        if heading.match(line) and len("".join(parts[-1]).strip()) >= _MIN_CHARS:
            parts.append([])
        parts[-1].append(line)
    return ["".join(p) for p in parts if "".join(p).strip()]


def _cut_tex(text: str) -> list[str]:
    body = text.split("\\begin{document}", 1)[-1].rsplit("\\end{document}", 1)[0]
    return _cut(body, _TEX_HEADING)


def write_files(folder: Path) -> dict[str, list[Path]]:
    """Write every source's files under ``folder``; folder name → the paths written."""
    out: dict[str, list[Path]] = {}
    for name, (_, texts) in sources().items():
        (folder / name).mkdir(parents=True, exist_ok=True)
        paths = []
        for i, text in enumerate(texts, start=1):
            path = folder / name / f"{i:02d}.txt"
            path.write_text(text, encoding="utf-8")
            paths.append(path)
        out[name] = paths
    return out


def prepare(folder: Path) -> list[Path]:
    """Write the corpus under ``folder``, import it as three authors' articles and return the QA
    files copied beside it (their links resolve to the written files)."""
    from llm_engineering.application.crawlers.base import file_link
    from llm_engineering.application.etl import crawl_links
    from llm_engineering.domain.documents import UserDocument

    written = write_files(folder)
    for name, (author, _) in sources().items():
        user = UserDocument.get_or_create_by_name(author)
        outcomes = crawl_links(user, [file_link(folder / name)], allow_local_files=True, progress=False)
        if any(o.status == "failed" for o in outcomes):
            raise SystemExit(f"importing {name} failed: {[o.reason for o in outcomes]}")
    if not written:
        raise SystemExit("no Korean source files found")
    copies = []
    for qa in QA_FILES:
        copies.append(folder / qa)
        shutil.copyfile(Path(__file__).with_name("data") / qa, folder / qa)
    return copies
