"""Text that reaches a message: characters no field may carry, whatever the channel.

Unicode bidirectional controls (embeddings, overrides, isolates and marks) reorder how the rest of a line
displays: in a headline they can make an SMS show its verification code and link reversed or in another
place. Every field that reaches a message refuses them.
"""

from __future__ import annotations

BIDI_CONTROLS = frozenset(
    "\u202a\u202b\u202c\u202d\u202e"  # LRE, RLE, PDF, LRO, RLO: embeddings and overrides
    "\u2066\u2067\u2068\u2069"  # LRI, RLI, FSI, PDI: isolates
    "\u200e\u200f\u061c"  # LRM, RLM, ALM: marks
)
BIDI_REASON = "must not contain bidirectional control characters (they reorder how a message displays)"


def has_bidi_control(text: str) -> bool:
    return any(ch in BIDI_CONTROLS for ch in text)
