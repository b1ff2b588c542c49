"""The README's "Using the Stripe SDKs" snippets, which the SDK flows run as written."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"


def readme_snippet(language: str) -> str:
    """The section's fenced block in `language` (`python`, `js`), as a reader copies it."""
    section = README.read_text().split("## Using the Stripe SDKs", 1)[1].split("\n## ", 1)[0]
    found = re.search(rf"```{language}\n(.*?)```", section, re.DOTALL)
    assert found is not None, f"no {language} block in the README's Stripe section"
    return found.group(1)
