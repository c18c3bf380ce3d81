"""The scheduler's matching helpers, which now live in :mod:`kubeling.api.scheduling`.

Kept as a re-export so modules not yet moved over (controllers/volume.py) still import.
"""

from __future__ import annotations

from kubeling.api.scheduling import (
    first_untolerated,
    node_selector_terms_match,
    required_node_affinity_matches,
    requirement_matches,
    term_matches,
    tolerated,
    toleration_tolerates,
)

__all__ = [
    "first_untolerated",
    "node_selector_terms_match",
    "required_node_affinity_matches",
    "requirement_matches",
    "term_matches",
    "tolerated",
    "toleration_tolerates",
]
