"""The shared argument checkers of facefuse.ops._common: check_choice."""
from __future__ import annotations

import pytest

from facefuse.ops._common import check_choice


def test_check_choice() -> None:
    assert check_choice("f", "blend", "alpha", ("laplacian", "alpha")) == "alpha"
    with pytest.raises(ValueError) as ei:
        check_choice("swap_video", "blend", "poisson", ("laplacian", "alpha"))
    # the format swap_video's own check uses, so that it can adopt this one unchanged
    assert str(ei.value) == "swap_video: argument 'blend' must be one of 'laplacian', 'alpha', got 'poisson'"
    with pytest.raises(ValueError, match="got None"):
        check_choice("f", "color", None, ("lab",))
