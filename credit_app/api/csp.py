"""The hashes of the inline scripts in the compiled frontend, so the Content-Security-
Policy can allow exactly those instead of every inline script ('unsafe-inline')."""

import base64
import hashlib
import re
from pathlib import Path

# An inline script: a <script> element without src=, its body up to the closing tag.
_INLINE_SCRIPT = re.compile(
    r"<script(?![^>]*\bsrc=)[^>]*>(?P<body>.*?)</script>", re.DOTALL | re.IGNORECASE
)


def script_hashes(html: str) -> set[str]:
    return {
        "sha256-" + base64.b64encode(hashlib.sha256(m["body"].encode()).digest()).decode()
        for m in _INLINE_SCRIPT.finditer(html)
        if m["body"].strip()
    }


def inline_script_hashes(static_dir: Path) -> set[str]:
    """Every inline script of every prerendered page (the build writes them once)."""
    hashes: set[str] = set()
    for page in static_dir.rglob("*.html"):
        hashes |= script_hashes(page.read_text(encoding="utf-8", errors="replace"))
    return hashes
