"""Pure NumPy / OpenCV references of every op: the tests' oracle and the
benchmarks' baseline. Same names and arguments as facefuse.ops."""
from __future__ import annotations

from .color import *  # noqa: F401,F403
from .color import __all__ as _color
from .paste import *  # noqa: F401,F403
from .paste import __all__ as _paste
from .poisson import *  # noqa: F401,F403
from .poisson import __all__ as _poisson
from .pyramid import *  # noqa: F401,F403
from .pyramid import __all__ as _pyramid
from .quality import *  # noqa: F401,F403
from .quality import __all__ as _quality
from .smoothing import *  # noqa: F401,F403
from .smoothing import __all__ as _smoothing

__all__ = [*_pyramid, *_color, *_paste, *_poisson, *_smoothing, *_quality]
