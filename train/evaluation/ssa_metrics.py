"""Sign-subtitle alignment metrics (SAT protocol): frame accuracy, CB-Acc, F1@{0.10, 0.25, 0.50}, edit.

Defined once, in the standalone `evaluate` module folder ``metrics/signllm_ssa/sat_metrics.py`` (numpy only, so the
folder loads without signllm); this module re-exports its public names. See that file for the protocol.
"""

from __future__ import annotations

from .metrics.signllm_ssa import sat_metrics
from .metrics.signllm_ssa.sat_metrics import *  # the public names of the single definition

__all__ = list(sat_metrics.__all__)
