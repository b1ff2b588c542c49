"""Free text a client writes (descriptions): kept as sent, never stripped.

The request models strip surrounding whitespace from their strings (`str_strip_whitespace`),
which suits ids, codes and names. Free text is the client's own, as Stripe keeps it; and a
stripped value is measured after stripping, so 5000 spaces after one character would pass a
5000-character limit the document states for what is sent.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import StringConstraints

# At most so many characters as sent, surrounding whitespace kept.
FreeText = Annotated[str, StringConstraints(strip_whitespace=False, max_length=1000)]
LongFreeText = Annotated[str, StringConstraints(strip_whitespace=False, max_length=5000)]
