"""Virtual power plants: Canopy + K-medoids classification of distributed flexibility.

- :func:`canopy` — Canopy clustering (hand-written; no maintained library has it);
- :func:`cluster` — Canopy for K and the initial medoids, then FasterPAM (``kmedoids``),
  or scikit-learn-extra's PAM when installed; CLARA sampling for large sets;
- :func:`features`, :func:`classify` — resource features and the TVPP/DVPP rule;
- :func:`aggregate_offers` — hourly up/down envelopes and cost curves per VPP.
"""

from __future__ import annotations

from flexnet.vpp.canopy import canopy, default_thresholds
from flexnet.vpp.classify import FEATURES, aggregate_offers, classify, features, path_sums
from flexnet.vpp.cluster import cluster, has_sklearn_extra, kmedoids

__all__ = ["FEATURES", "aggregate_offers", "canopy", "classify", "cluster", "default_thresholds",
           "features", "has_sklearn_extra", "kmedoids", "path_sums"]
