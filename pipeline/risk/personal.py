"""Marts that hold personal data: retention deletes their partitions with the lake's.

`fct_suspicious_listeners` names listeners (as pseudonyms, a hash of the lake's user id, which is
itself an HMAC pseudonym when landing pseudonymizes): pseudonymous data is still personal data, so
it is kept no longer than the streams it was derived from. Every other mart is an aggregate.
"""

from __future__ import annotations

# mart -> its personal columns
PERSONAL_MARTS: dict[str, tuple[str, ...]] = {"fct_suspicious_listeners": ("listener",)}
