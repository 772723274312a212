"""Coded text columns: a per-row text held as small integer codes into a short table.

A batch's ``detail`` column repeats a handful of texts ("empty prediction set: ...",
"more than 1 labels plausible ...") over many rows. As a numpy object column, every
build, mask and copy of it touches each row's reference (about 0.2 to 0.7 ms per step
on 100,000 rows); as codes it costs a byte per row, and the object column is built once,
when someone reads it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

__all__ = ["CodedText"]


class CodedText:
    """Texts of ``n`` rows as codes: row ``i`` holds ``texts[codes[i]]``; code 0 is None.

    Reads like the object column it stands for (``len``, indexing, ``np.asarray``);
    ``column()`` builds that column once and keeps it.

    Examples:
        >>> import numpy as np
        >>> from guardrails.core.coded import CodedText
        >>> t = CodedText(np.array([0, 2, 1], dtype=np.uint8), ("small", "big"))
        >>> t.column().tolist(), t[1]
        ([None, 'big', 'small'], 'big')
    """

    __slots__ = ("_column", "codes", "texts")

    def __init__(self, codes: NDArray[np.uint8], texts: Sequence[str]) -> None:
        if codes.dtype != np.uint8 or codes.ndim != 1:
            raise ValueError(f"CodedText codes must be 1-D uint8; got {codes.dtype} {codes.shape}")
        if len(texts) > 254:
            raise ValueError(f"CodedText holds at most 254 texts; got {len(texts)}")
        self.codes = codes
        self.texts: tuple[str, ...] = tuple(texts)
        self._column: NDArray[np.object_] | None = None

    def column(self) -> NDArray[np.object_]:
        """The object column: the text of each row, None where its code is 0."""
        if self._column is None:
            table = np.empty(len(self.texts) + 1, dtype=object)
            table[1:] = self.texts
            self._column = table.take(self.codes)
        return self._column

    def where(self, mask: NDArray[np.bool_]) -> CodedText:
        """The same texts in the rows of ``mask`` only (None elsewhere)."""
        return CodedText(self.codes * mask.view(np.uint8), self.texts)

    def __len__(self) -> int:
        return int(self.codes.shape[0])

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, (int, np.integer)):
            code = int(self.codes[index])
            return None if code == 0 else self.texts[code - 1]
        return self.column()[index]

    def __array__(self, dtype: Any = None, copy: Any = None) -> NDArray[Any]:
        column = self.column()
        return column if dtype is None else column.astype(dtype)

    def __repr__(self) -> str:
        return f"CodedText(n={len(self)}, texts={self.texts!r})"
