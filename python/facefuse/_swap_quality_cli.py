"""``facefuse swap``'s pixel boost, face enhancer and mask options (issue 19).

Each option has a short name and FaceFusion's own as an alias (``--pixel-boost`` /
``--face-swapper-pixel-boost``, ``--enhancer`` / ``--face-enhancer-model``, ``--mask`` /
``--face-mask-types`` ...), with FaceFusion's value forms: ``512`` or ``512x512``; lists
space- or comma-separated. Values are checked by :func:`facefuse.swap_video` (user errors exit
2 naming the flag).
"""
from __future__ import annotations

import argparse
from typing import Any, Dict, List, Tuple, Union

__all__ = ["add_quality_options", "quality_kwargs", "QUALITY_RENAMES"]

#: API argument -> the flag of this command, where the flag is not ``--`` + the argument.
QUALITY_RENAMES = {"mask_types": "--mask"}


def _boost(text: str) -> int:
    """``512`` or FaceFusion's ``512x512``."""
    a, _, b = text.lower().partition("x")
    try:
        if b and int(b) != int(a):
            raise argparse.ArgumentTypeError(f"pixel boost must be square (e.g. 512x512), got {text!r}")
        return int(a)
    except ValueError:
        raise argparse.ArgumentTypeError(f"pixel boost must be a size such as 512 or 512x512, got {text!r}") from None


def _items(values: Union[str, List[str]]) -> List[str]:
    """Space- or comma-separated items of one string (a default) or of several arguments."""
    texts = [values] if isinstance(values, str) else values
    return [v for text in texts for v in text.replace(",", " ").split()]


def _padding(values: Union[str, List[str]]) -> Tuple[int, ...]:
    items = _items(values)
    try:
        return tuple(int(v) for v in items)
    except ValueError:
        raise ValueError(f"argument 'mask_padding' must be 1 to 4 ints in [0, 100], got {' '.join(items)!r}") from None


def add_quality_options(s: argparse.ArgumentParser) -> None:
    from .models.enhancer import ENHANCER_SPECS
    from .models.masker import FACE_MASK_REGIONS, OCCLUDER_MODELS, PARSER_SPECS

    g = s.add_argument_group("pixel boost, face enhancer and masks (FaceFusion's options)")
    g.add_argument("--pixel-boost", "--face-swapper-pixel-boost", dest="pixel_boost", type=_boost, default=None,
                   metavar="SIZE", help="swap crop size, a multiple of the swapper's (inswapper_128: 128..1024; "
                                        "e.g. 512 or 512x512); default the swapper's own")
    g.add_argument("--enhancer", "--face-enhancer-model", dest="enhancer", choices=sorted(ENHANCER_SPECS),
                   default=None, metavar="MODEL",
                   help=f"face enhancer run on every swapped face ({', '.join(sorted(ENHANCER_SPECS))}); default none")
    g.add_argument("--enhancer-blend", "--face-enhancer-blend", dest="enhancer_blend", type=int, default=80,
                   metavar="0..100", help="enhancer blend over the swapped frame (default 80)")
    g.add_argument("--enhancer-weight", "--face-enhancer-weight", dest="enhancer_weight", type=float, default=0.5,
                   metavar="0..1", help="codeformer's fidelity weight (default 0.5)")
    # list defaults are strings (as the user would type them), so --help shows them as such
    g.add_argument("--mask", "--face-mask-types", dest="mask_types", nargs="+", default="box", metavar="TYPE",
                   help="paste masks, combined by their minimum: box, occlusion, region (default box)")
    regions = " ".join(FACE_MASK_REGIONS)
    g.add_argument("--mask-regions", "--face-mask-regions", dest="mask_regions", nargs="+", default=regions,
                   metavar="REGION", help=f"regions of the region mask (default all: {regions})")
    g.add_argument("--mask-blur", "--face-mask-blur", dest="mask_blur", type=float, default=0.3, metavar="0..1",
                   help="box mask edge softness (default 0.3)")
    g.add_argument("--mask-padding", "--face-mask-padding", dest="mask_padding", nargs="+", default="0 0 0 0",
                   metavar="PCT", help="box mask padding in percent: top right bottom left (1 to 4 values, "
                                       "default 0 0 0 0)")
    g.add_argument("--occluder", "--face-occluder-model", dest="occluder", choices=OCCLUDER_MODELS,
                   default="xseg_1", help="occlusion model (default xseg_1; many: the minimum of all three)")
    g.add_argument("--parser", "--face-parser-model", dest="parser", choices=sorted(PARSER_SPECS),
                   default="bisenet_resnet_34", help="face parser of the region mask (default bisenet_resnet_34)")


def quality_kwargs(args: argparse.Namespace) -> Dict[str, Any]:
    """The :func:`facefuse.swap_video` arguments of these options."""
    return {"pixel_boost": args.pixel_boost, "enhancer": args.enhancer, "enhancer_blend": args.enhancer_blend,
            "enhancer_weight": args.enhancer_weight, "mask_types": tuple(_items(args.mask_types)),
            "mask_regions": tuple(_items(args.mask_regions)), "mask_blur": args.mask_blur,
            "mask_padding": _padding(args.mask_padding), "occluder": args.occluder, "parser": args.parser}
