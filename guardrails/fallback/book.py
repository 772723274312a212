"""Per-request bookkeeping of a fallback chain: answers merged by row, stages tried, why."""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from guardrails.core.decisions import Decisions, Reason, object_column
from guardrails.fallback.stages import Rule, Stage
from guardrails.fallback.triggers import verdict_mask


class _Book:
    """Per-request bookkeeping of a chain: merged decisions, stages tried, reasons seen."""

    def __init__(self, d: Decisions) -> None:
        self.d = d
        n = len(d)
        self.tried = object_column(n)
        if d.tried is not None:
            self.tried[:] = list(d.tried)
        else:
            self.tried[:] = [(str(s),) for s in d.stage]
        self.history = object_column(n)
        # the verdict each row entered the chain with, kept for the rows a stage overrides
        self.verdict = np.where(d.abstained & verdict_mask(d.reason), d.reason, 0).astype(np.int8)
        self.verdict_detail = d.detail

    def record(self, stage: Stage, idx: NDArray[np.intp], sub: Decisions, seconds: float) -> None:
        m = idx.size
        prev_stage, prev_reason = self.d.stage[idx], self.d.reason[idx]
        sub = sub.replace(stage=object_column(m, stage.name), timings={stage.name: seconds})
        if sub.errors is None and self.d.errors is not None:  # why validation refused it
            sub = sub.replace(errors=self.d.errors[idx])
        detail = object_column(m) if sub.detail is None else sub.detail.copy()
        review = sub.abstained & (sub.reason == int(Reason.REVIEW))
        declined = f"rule {stage.name!r} declined" if isinstance(stage, Rule) else None
        over = self._overrides(idx, sub)
        for j in range(m):
            i = int(idx[j])
            seen = self.history[i]
            if seen is None:
                seen = f"{prev_stage[j]}: {Reason(int(prev_reason[j]))}"
            self.tried[i] = (*self.tried[i], stage.name)
            if not sub.abstained[j]:
                detail[j] = f"after {seen}"
            elif review[j]:
                detail[j] = f"sent to review after {seen}"
            else:
                what = "declined" if detail[j] == declined else str(Reason(int(sub.reason[j])))
                seen = f"{seen}; {stage.name}: {what}"
            if sub.abstained[j] and self.verdict[i] and self.verdict_detail is not None:
                # a row still withheld keeps why its verdict was given (field, bound, value)
                why = self.verdict_detail[i]
                if why and why != detail[j]:
                    detail[j] = why if detail[j] is None else f"{why}; {detail[j]}"
            self.history[i] = seen
        self.d = self.d.merge(idx, sub.replace(detail=detail, **over))

    def _overrides(self, idx: NDArray[np.intp], sub: Decisions) -> dict[str, Any]:
        """``overridden`` columns for ``sub``: the entry verdict of every row it answered."""
        verdict = self.verdict[idx]
        took = ~sub.abstained & (verdict != 0)
        if not took.any() and sub.overridden is None:
            return {}
        m = idx.size
        codes = np.zeros(m, dtype=np.int8) if sub.overridden is None else sub.overridden.copy()
        text = object_column(m) if sub.overridden_detail is None else sub.overridden_detail.copy()
        codes[took] = verdict[took]
        if self.verdict_detail is not None:
            text[took] = self.verdict_detail[idx][took]
        return {"overridden": codes, "overridden_detail": text}

    def result(self) -> Decisions:
        return self.d.replace(tried=self.tried)
