"""What a PDF signature covers and what changed after it, read from pyHanko's difference analysis.

pyHanko compares each later revision with the signed one (``DEFAULT_DIFF_POLICY``) and says how
far the changes go (``ModificationLevel``) and whether the signature's document modification
policy allows that (``docmdp_ok``: ISO 32000-2 §12.8.2.2 DocMDP for a certification signature;
for an approval signature, the usual allowed set: DSS updates, document time-stamps, form
filling). Anything it cannot explain is ``OTHER`` and never allowed.
"""

from __future__ import annotations

from pyhanko.sign.diff_analysis import DiffResult, ModificationLevel
from pyhanko.sign.validation.status import ModificationInfo, SignatureCoverageLevel

from signing.report import Modifications

__all__ = ["coverage_of", "modifications_of"]

_COVERS = {SignatureCoverageLevel.ENTIRE_FILE: "whole_document",
           SignatureCoverageLevel.ENTIRE_REVISION: "revision"}

# The kind of change each level stands for (each level admits those below it too).
_ALLOWED = {
    ModificationLevel.LTA_UPDATES: "validation_data_or_document_timestamps",
    ModificationLevel.FORM_FILLING: "form_filling_or_signatures",
    ModificationLevel.ANNOTATIONS: "annotations",
}


def coverage_of(status: ModificationInfo | None) -> str:
    """"whole_document", "revision", or "partial" (bytes of its own revision left out)."""
    coverage = getattr(status, "coverage", None)
    return _COVERS.get(coverage, "partial")


def modifications_of(status: ModificationInfo | None) -> Modifications:
    coverage = getattr(status, "coverage", None)
    if coverage == SignatureCoverageLevel.ENTIRE_FILE:
        return Modifications("none")
    if coverage != SignatureCoverageLevel.ENTIRE_REVISION or not status.docmdp_ok:
        return Modifications("not_allowed")
    level = status.modification_level
    if level is None or level == ModificationLevel.OTHER:
        return Modifications("not_allowed")  # no analysis ran, or it found something it can't name
    changes = [_ALLOWED[level]] if level in _ALLOWED else []
    diff = status.diff_result
    if isinstance(diff, DiffResult) and diff.changed_form_fields:
        changes += [f"field:{name}" for name in sorted(diff.changed_form_fields)]
    return Modifications("allowed", tuple(changes))
