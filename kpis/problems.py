"""``problems``: a pydantic validation error as one line that names each key, for every file cxpulse reads.

The settings, thresholds and targets files all report a bad document the same way, e.g.
``queues.billing.timezone: Value error, unknown IANA time zone 'Mars/Olympus'``.
"""

from __future__ import annotations

from pydantic import ValidationError


def problems(exc: ValidationError) -> str:
    return "; ".join(f"{'.'.join(str(part) for part in error['loc'])}: {error['msg']}" for error in exc.errors())
