"""DDIM sampling for Diff2Lip (guided-diffusion's schedule, respacing and update, in NumPy).

* Schedule: 1000 linear betas from ``1e-4 * 1000 / T`` to ``0.02 * 1000 / T`` (T = 1000),
  ``alphas_cumprod = cumprod(1 - betas)`` in float64 (guided-diffusion's ``linear``).
* Respacing (:func:`space_timesteps`, guided-diffusion's ``respace.py``): ``"ddimN"`` takes
  every ``s``-th timestep from 0 for the integer stride ``s`` giving exactly N steps (Diff2Lip's
  inference script uses ``--timestep_respacing ddim25``: 0, 40, ..., 960); ``"N"`` or
  ``"N1,N2,..."`` split the timesteps into equal sections and take N evenly strided (rounded)
  steps from each (``"25"``: 0, 42, 83, ..., 999).
* DDIM with eta = 0 (deterministic), over the kept timesteps from the last to the first:
  ``x0 = clip(sqrt(1/a) x - sqrt(1/a - 1) eps, -1, 1)``, ``eps' = (sqrt(1/a) x - x0) / sqrt(1/a - 1)``,
  ``x <- sqrt(a_prev) x0 + sqrt(1 - a_prev) eps'`` with ``a = alphas_cumprod[t]`` and ``a_prev`` the
  previous kept timestep's (1 after the last). The model is called with the ORIGINAL
  timestep ``t`` (guided-diffusion's ``_WrappedModel`` maps the step index back).
* Diff2Lip's temporal-consistency trick: one seeded noise image, the same for every frame,
  is both the initial sample and the filling of the hidden part of ``cond_img``.
"""
from __future__ import annotations

import math
from typing import Callable, Optional, Sequence, Set, Union

import numpy as np

__all__ = [
    "NUM_TIMESTEPS",
    "linear_betas",
    "alphas_cumprod",
    "space_timesteps",
    "DDIMSampler",
    "initial_noise",
    "hide_mask",
    "to_model",
    "from_model",
    "lipsync_batch",
]

NUM_TIMESTEPS = 1000

EpsFn = Callable[[np.ndarray, np.ndarray], np.ndarray]


def linear_betas(num_timesteps: int = NUM_TIMESTEPS) -> np.ndarray:
    """guided-diffusion's ``linear`` schedule: float64 ``[T]`` from 1e-4 * 1000/T to 0.02 * 1000/T."""
    if isinstance(num_timesteps, bool) or not isinstance(num_timesteps, int) or num_timesteps < 1:
        raise ValueError(f"linear_betas: argument 'num_timesteps' must be an int >= 1, got {num_timesteps!r}")
    scale = 1000.0 / num_timesteps
    return np.linspace(scale * 0.0001, scale * 0.02, num_timesteps, dtype=np.float64)


def alphas_cumprod(num_timesteps: int = NUM_TIMESTEPS) -> np.ndarray:
    """``cumprod(1 - linear_betas(T))``, float64 ``[T]``."""
    return np.cumprod(1.0 - linear_betas(num_timesteps))


def space_timesteps(num_timesteps: int, section_counts: Union[str, Sequence[int]]) -> Set[int]:
    """The original timesteps a respaced process keeps (guided-diffusion's ``space_timesteps``).

    ``section_counts``: ``"ddimN"`` (the DDIM paper's fixed integer stride, exactly N steps),
    a comma-separated string ``"10,15,20"`` or a list of ints: the timesteps are cut into
    ``len(section_counts)`` equal sections (the first ``T % len`` one longer) and section i
    gives ``section_counts[i]`` steps ``start + round(j * (size - 1) / (count - 1))``.

    Raises:
        ValueError: no integer stride gives exactly N steps; a section asks for more steps
            than it has; malformed counts.
    """
    if isinstance(section_counts, str):
        if section_counts.startswith("ddim"):
            try:
                desired = int(section_counts[len("ddim"):])
            except ValueError:
                raise ValueError(
                    f"space_timesteps: argument 'section_counts' {section_counts!r} is not 'ddimN'") from None
            for stride in range(1, num_timesteps):
                if len(range(0, num_timesteps, stride)) == desired:
                    return set(range(0, num_timesteps, stride))
            raise ValueError(f"space_timesteps: cannot take exactly {desired} of {num_timesteps} timesteps with an "
                             f"integer stride ('ddim{desired}'); use evenly spaced sections ('{desired}') instead")
        try:
            counts = [int(c) for c in section_counts.split(",")]
        except ValueError:
            raise ValueError(f"space_timesteps: argument 'section_counts' must be 'ddimN' or comma-separated ints, "
                             f"got {section_counts!r}") from None
    else:
        counts = [int(c) for c in section_counts]
    if not counts or any(c < 1 for c in counts):
        raise ValueError(f"space_timesteps: argument 'section_counts' must be counts >= 1, got {section_counts!r}")
    size_per, extra = divmod(num_timesteps, len(counts))
    start = 0
    steps: list[int] = []
    for i, count in enumerate(counts):
        size = size_per + (1 if i < extra else 0)
        if size < count:
            raise ValueError(f"space_timesteps: cannot divide a section of {size} steps into {count}")
        stride = 1.0 if count <= 1 else (size - 1) / (count - 1)
        cur = 0.0
        for _ in range(count):
            steps.append(start + round(cur))  # Python's round (half to even), as the reference
            cur += stride
        start += size
    return set(steps)


class DDIMSampler:
    """Deterministic DDIM (eta 0) over the respaced linear schedule.

    Args:
        steps: number of denoising steps (model calls per frame), default 25.
        spacing: ``"ddim"`` (integer stride, Diff2Lip's ``ddim25``; raises if no stride gives
            exactly ``steps``) or ``"even"`` (guided-diffusion's section spacing ``str(steps)``).
        num_timesteps: length of the original schedule (1000).
        clip_denoised: clip the x0 prediction to [-1, 1] (Diff2Lip: True).

    Attributes:
        timesteps: int64 ``[steps]`` original timesteps in the order the model sees them
            (descending).
        alpha_bar, alpha_bar_prev: float64 ``[steps]`` for those timesteps.
    """

    def __init__(self, steps: int = 25, *, spacing: str = "ddim", num_timesteps: int = NUM_TIMESTEPS,
                 clip_denoised: bool = True) -> None:
        if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or not 1 <= steps <= num_timesteps:
            raise ValueError(f"DDIMSampler: argument 'steps' must be an int in 1..{num_timesteps}, got {steps!r}")
        if spacing not in ("ddim", "even"):
            raise ValueError(f"DDIMSampler: argument 'spacing' must be 'ddim' or 'even', got {spacing!r}")
        self.steps = int(steps)
        self.spacing = spacing
        self.clip_denoised = bool(clip_denoised)
        kept = sorted(space_timesteps(num_timesteps, f"ddim{steps}" if spacing == "ddim" else str(steps)))
        abar = alphas_cumprod(num_timesteps)
        ascending = abar[kept]
        self.timesteps = np.asarray(kept[::-1], dtype=np.int64)
        self.alpha_bar = ascending[::-1].copy()
        # a_prev of the kept step k is the kept step k-1's (1 before the first)
        self.alpha_bar_prev = np.append(1.0, ascending[:-1])[::-1].copy()
        # per-step float32 coefficients (torch's _extract_into_tensor(...).float())
        a, ap = self.alpha_bar, self.alpha_bar_prev
        self._c = [tuple(np.float32(v) for v in (math.sqrt(1.0 / a[i]), math.sqrt(1.0 / a[i] - 1.0),
                                                  math.sqrt(ap[i]), math.sqrt(1.0 - ap[i])))
                   for i in range(self.steps)]

    def coefficients(self, i: int) -> np.ndarray:
        """float32 ``[4]`` of step ``i``: sqrt(1/a), sqrt(1/a - 1), sqrt(a_prev), sqrt(1 - a_prev)."""
        return np.array(self._c[i], dtype=np.float32)

    def step(self, x: np.ndarray, eps: np.ndarray, i: int) -> np.ndarray:
        """One DDIM update at step ``i`` (0 = the first, noisiest); float32 in and out."""
        sr, srm1, sap, s1ap = self._c[i]
        x0 = sr * x - srm1 * eps
        if self.clip_denoised:
            np.clip(x0, -1.0, 1.0, out=x0)
        eps2 = (sr * x - x0) / srm1
        return sap * x0 + s1ap * eps2

    def sample(self, eps_fn: EpsFn, x_T: np.ndarray) -> np.ndarray:
        """Run all steps from ``x_T`` (float ``[N, C, H, W]``); ``eps_fn(x, t)`` gets float32 ``x``
        and int64 ``t`` ``[N]`` (the original timestep) and returns float ``eps`` like ``x``.
        Returns the float32 sample."""
        x = np.array(x_T, dtype=np.float32, copy=True)
        n = x.shape[0]
        for i, t in enumerate(self.timesteps):
            eps = np.asarray(eps_fn(x, np.full(n, t, np.int64)), dtype=np.float32)
            if eps.shape != x.shape:
                raise ValueError(f"DDIMSampler.sample: the model returned eps of shape {eps.shape}, expected {x.shape}")
            x = self.step(x, eps, i)
        return x

    def __repr__(self) -> str:
        return f"DDIMSampler(steps={self.steps}, spacing={self.spacing!r}, timesteps={self.timesteps[:3].tolist()}...)"


def initial_noise(seed: Optional[int], size: int = 128) -> np.ndarray:
    """One standard-normal image float32 ``[3, size, size]`` (NumPy's PCG64 from ``seed``; None:
    fresh entropy). Diff2Lip uses the same image for every frame; torch's generator differs, so
    a seed does not reproduce Diff2Lip's exact noise, only its role."""
    return np.random.default_rng(seed).standard_normal((3, size, size)).astype(np.float32)


def hide_mask(size: int = 128, face_hide_percentage: float = 0.5) -> np.ndarray:
    """float32 ``[1, 1, size, size]``: 1 from row ``int(size * (1 - face_hide_percentage))`` down
    (Diff2Lip's ``tfg_add_cond_inputs``), 0 above."""
    if not isinstance(face_hide_percentage, (int, float)) or not 0.0 < float(face_hide_percentage) <= 1.0:
        raise ValueError(f"hide_mask: argument 'face_hide_percentage' must be in (0, 1], got {face_hide_percentage!r}")
    m = np.zeros((1, 1, size, size), np.float32)
    m[:, :, int(size * (1 - float(face_hide_percentage))):, :] = 1.0
    return m


def to_model(crops_bgr: np.ndarray) -> np.ndarray:
    """uint8 (or 0..255 float) BGR crops ``[N, H, W, 3]`` -> float32 RGB ``[N, 3, H, W]`` in [-1, 1]."""
    x = np.asarray(crops_bgr, dtype=np.float32)[..., ::-1].transpose(0, 3, 1, 2)
    return np.clip(x * (2.0 / 255.0) - 1.0, -1.0, 1.0)


def from_model(x: np.ndarray) -> np.ndarray:
    """float RGB ``[N, 3, H, W]`` in [-1, 1] -> uint8 BGR ``[N, H, W, 3]``: Diff2Lip's
    ``(x + 1) / 2`` clamped to [0, 1], times 255, then ROUNDED to the nearest level. Diff2Lip
    truncates (``astype(np.uint8)``), which darkens by half a level on average; facefuse's
    values are the same or one level higher (checked in tests/test_diff2lip_reference.py)."""
    y = np.clip((np.asarray(x, np.float32) + 1.0) * 0.5, 0.0, 1.0) * 255.0
    return np.ascontiguousarray(np.rint(y).astype(np.uint8).transpose(0, 2, 3, 1)[..., ::-1])


def lipsync_batch(denoiser: "object", sampler: DDIMSampler, crops: np.ndarray, refs: np.ndarray,
                  mels: np.ndarray, noise: np.ndarray, face_hide_percentage: float = 0.5) -> np.ndarray:
    """Generate the lower faces of a batch.

    Args:
        denoiser: a :class:`~.model.Diff2LipDenoiser` (``bind`` / ``sample``: the NumPy loop, or
            the device-resident loop on CUDA).
        sampler: the DDIM sampler.
        crops, refs: float32 RGB ``[N, 3, 128, 128]`` in [-1, 1] (:func:`to_model`).
        mels: float32 ``[N, 80, 16]`` mel windows.
        noise: float32 ``[3, 128, 128]`` (:func:`initial_noise`), the same for every frame.
        face_hide_percentage: the hidden lower fraction of the crop.

    Returns:
        float32 ``[N, 3, 128, 128]`` in [-1, 1]: ``sample * mask + (1 - mask) * crop``.
    """
    if not isinstance(crops, np.ndarray) or crops.ndim != 4 or crops.shape[1] != 3:
        desc = f"shape {list(crops.shape)}" if isinstance(crops, np.ndarray) else type(crops).__name__
        raise ValueError(f"lipsync_batch: argument 'crops' must be a [N, 3, H, W] array, got {desc}")
    if not isinstance(noise, np.ndarray) or noise.shape != crops.shape[1:]:
        desc = f"shape {list(noise.shape)}" if isinstance(noise, np.ndarray) else type(noise).__name__
        raise ValueError(f"lipsync_batch: argument 'noise' must have the crops' shape {list(crops.shape[1:])} "
                         f"(one image shared by all frames), got {desc}")
    n, _, h, w = crops.shape
    mask = hide_mask(h, face_hide_percentage)
    noise_b = np.broadcast_to(noise[None], crops.shape)
    cond_img = crops * (1.0 - mask) + mask * noise_b
    cond = denoiser.bind(cond_img, np.broadcast_to(mask, (n, 1, h, w)), refs, mels)  # type: ignore[attr-defined]
    sample = denoiser.sample(sampler, noise_b, cond)  # type: ignore[attr-defined]
    return sample * mask + (1.0 - mask) * crops
