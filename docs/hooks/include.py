"""MkDocs hook: pages made of documents kept at the repository root.

A line ``<!-- include: PATH -->`` in a page is replaced by the file at PATH (relative to the
repository root), so PROTOCOL.md, bench/RESULTS.md and CHANGELOG.md keep one copy each. Links
in those files are written for the repository; they are rewritten for the site here, and the
images they show are added to it.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from mkdocs.structure.files import File, Files

ROOT = Path(__file__).resolve().parents[2]
INCLUDE = re.compile(r"^<!-- include: (?P<path>[\w./-]+) -->$", re.MULTILINE)
# repository path of a link target -> its place on the site
LINK_TARGETS = {
    "docs/": "",
    "results/latency.png": "assets/bench/latency.png",
    "results/send_rate.png": "assets/bench/send_rate.png",
    "results/scale.png": "assets/bench/scale.png",
}
IMAGES = {
    "bench/results/latency.png": "assets/bench/latency.png",
    "bench/results/send_rate.png": "assets/bench/send_rate.png",
    "bench/results/scale.png": "assets/bench/scale.png",
}


def on_files(files: Files, config: Any) -> Files:
    for source, target in IMAGES.items():
        if (ROOT / source).exists():
            files.append(File.generated(config, target, abs_src_path=str(ROOT / source)))
    return files


def on_page_markdown(markdown: str, page: Any, config: Any, files: Files) -> str:
    return INCLUDE.sub(lambda match: _included(match["path"]), markdown)


def _included(path: str) -> str:
    text = (ROOT / path).read_text(encoding="utf-8")
    # the page has its own title
    text = re.sub(r"\A# .*\n", "", text)
    for source, target in LINK_TARGETS.items():
        text = text.replace(f"]({source}", f"]({target}")
    return text
