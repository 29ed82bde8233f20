"""Audio for lip sync: decode any media file to 16 kHz mono, Diff2Lip's mel spectrogram,
streamed, and the per-video-frame mel windows the model takes.

Diff2Lip (like Wav2Lip) conditions each generated frame on a 16-step window of an 80-band
log-mel spectrogram of the 16 kHz speech:

* pre-emphasis ``y[n] = x[n] - 0.97 x[n-1]`` (``x[-1] = 0``);
* STFT, n_fft 800, hop 200 (12.5 ms -> 80 mel steps per second), periodic Hann window of 800,
  centred frames with the signal zero-padded by 400 samples at both ends, so a signal of
  ``L`` samples gives ``1 + L // 200`` frames, frame ``j`` centred on sample ``200 j``;
* magnitude, then 80 mel bands 55-7600 Hz on the Slaney mel scale with Slaney (area)
  normalisation (:func:`mel_filterbank`);
* ``S = 20 log10(max(1e-5, mel)) - 20`` dB, normalised ``clip(8 (S + 100) / 100 - 4, -4, 4)``.

Nothing depends on whole-file statistics, so :class:`MelStream` computes the same frames as
:func:`melspectrogram` while the audio arrives, holding only one window of samples.

Layouts: mel spectrograms here are time-major ``[T, 80]`` float32 (one row per 12.5 ms step);
a model window (:func:`mel_window`) is ``[80, 16]`` (bands x steps), the layout of Diff2Lip's
``indiv_mels``.
"""
from __future__ import annotations

import math
import os
from typing import Iterable, Iterator, Optional, Union

import numpy as np

__all__ = [
    "SAMPLE_RATE",
    "N_FFT",
    "HOP",
    "WIN",
    "N_MELS",
    "FMIN",
    "FMAX",
    "MEL_STEPS_PER_SECOND",
    "MEL_WINDOW",
    "decode_audio",
    "load_audio",
    "mel_filterbank",
    "melspectrogram",
    "MelStream",
    "mel_window_start",
    "mel_window",
    "num_mel_windows",
]

PathLike = Union[str, "os.PathLike[str]"]

SAMPLE_RATE = 16000
N_FFT = 800
HOP = 200
WIN = 800
N_MELS = 80
FMIN = 55.0
FMAX = 7600.0
PREEMPHASIS = 0.97
MIN_LEVEL_DB = -100.0
REF_LEVEL_DB = 20.0
MAX_ABS = 4.0
#: mel steps per second of audio (16000 / 200)
MEL_STEPS_PER_SECOND = SAMPLE_RATE / HOP
#: mel steps per model window (Diff2Lip's syncnet_mel_step_size: 0.2 s, 5 frames at 25 fps)
MEL_WINDOW = 16
#: Diff2Lip's generate.py gives frame k the window that starts one 25 fps frame (40 ms)
#: before it: ``crop_audio_window(mel, max(i - syncnet_T // 2, 0))`` with i = k + 1, T = 5.
_LEAD_SECONDS = 1.0 / 25.0


# --------------------------------------------------------------------------- decoding

def decode_audio(path: PathLike, *, sample_rate: int = SAMPLE_RATE,
                 chunk_samples: int = 16000) -> Iterator[np.ndarray]:
    """Decode the first audio stream of ``path`` (wav, mp3, m4a, a video's audio track: anything
    FFmpeg reads) to mono float32 at ``sample_rate``, yielded as 1-D chunks of about
    ``chunk_samples`` samples (the last one shorter).

    Resampling is FFmpeg's (PyAV ``AudioResampler``); channels are averaged to mono (as
    ``librosa.load(mono=True)``). Memory stays at one chunk whatever the file's length.

    Raises:
        FileNotFoundError, ValueError, TypeError: at the call: ``path`` does not exist, a bad
            ``sample_rate`` / ``chunk_samples``, ``path`` not a path.
        ValueError: while iterating: ``path`` cannot be opened, has no audio stream, or decoding
            fails (``facefuse.video.VideoError``, a ValueError, naming the file).
    """
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"decode_audio: argument 'path' must be a path, got {type(path).__name__}")
    src = os.fspath(path)
    if isinstance(sample_rate, bool) or not isinstance(sample_rate, int) or sample_rate <= 0:
        raise ValueError(f"decode_audio: argument 'sample_rate' must be a positive int, got {sample_rate!r}")
    if isinstance(chunk_samples, bool) or not isinstance(chunk_samples, int) or chunk_samples <= 0:
        raise ValueError(f"decode_audio: argument 'chunk_samples' must be a positive int, got {chunk_samples!r}")
    if not os.path.exists(src):
        raise FileNotFoundError(f"decode_audio: argument 'path': no such file: {src!r}")
    # checked above, when called; the decoding below runs as the chunks are asked for
    return _decode_chunks(src, sample_rate, chunk_samples)


def _decode_chunks(src: str, sample_rate: int, chunk_samples: int) -> Iterator[np.ndarray]:
    import av

    from ..video import VideoError

    errors = (av.FFmpegError, EOFError, UnicodeDecodeError)
    try:
        container = av.open(src, "r", metadata_errors="ignore")
    except errors as e:
        raise VideoError(f"decode_audio: cannot open {src!r} as audio or video: {e}") from e
    try:
        if not container.streams.audio:
            raise VideoError(f"decode_audio: argument 'path': {src!r} has no audio stream")
        stream = container.streams.audio[0]
        # planar float at the target rate, channels kept: the mono mix is a plain mean below
        resampler = av.AudioResampler(format="fltp", rate=sample_rate)
        pending: list = []
        held = 0

        def mono(frames: Iterable) -> Iterator[np.ndarray]:
            for fr in frames:
                a = fr.to_ndarray()  # [channels, samples] float32
                if a.size:
                    yield a.mean(axis=0, dtype=np.float32) if a.shape[0] > 1 else a[0]

        def decoded() -> Iterator[np.ndarray]:
            try:
                for packet in container.demux(stream):
                    for frame in packet.decode():
                        yield from mono(resampler.resample(frame))
                yield from mono(resampler.resample(None))
            except errors as e:
                raise VideoError(f"decode_audio: decoding the audio of {src!r} failed: {e}") from e

        for piece in decoded():
            pending.append(np.asarray(piece, dtype=np.float32))
            held += piece.shape[0]
            if held >= chunk_samples:
                yield np.concatenate(pending)
                pending, held = [], 0
        if held:
            yield np.concatenate(pending)
    finally:
        container.close()


def load_audio(path: PathLike, *, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """The whole audio of ``path`` as one 1-D float32 mono array at ``sample_rate``
    (:func:`decode_audio` concatenated; for short clips and tests)."""
    chunks = list(decode_audio(path, sample_rate=sample_rate))
    return np.concatenate(chunks) if chunks else np.zeros(0, np.float32)


# --------------------------------------------------------------------------- mel filterbank

# Slaney's mel scale (Auditory Toolbox): linear below 1 kHz (3 mel per 200 Hz), logarithmic
# above with 27 mel per factor 6.4.
_F_SP = 200.0 / 3.0
_MIN_LOG_HZ = 1000.0
_MIN_LOG_MEL = _MIN_LOG_HZ / _F_SP
_LOGSTEP = math.log(6.4) / 27.0


def _hz_to_mel(f: np.ndarray) -> np.ndarray:
    f = np.asarray(f, dtype=np.float64)
    lin = f / _F_SP
    with np.errstate(divide="ignore"):
        log = _MIN_LOG_MEL + np.log(np.maximum(f, 1e-300) / _MIN_LOG_HZ) / _LOGSTEP
    return np.where(f >= _MIN_LOG_HZ, log, lin)


def _mel_to_hz(m: np.ndarray) -> np.ndarray:
    m = np.asarray(m, dtype=np.float64)
    lin = m * _F_SP
    log = _MIN_LOG_HZ * np.exp(_LOGSTEP * (m - _MIN_LOG_MEL))
    return np.where(m >= _MIN_LOG_MEL, log, lin)


def mel_filterbank(sample_rate: int = SAMPLE_RATE, n_fft: int = N_FFT, n_mels: int = N_MELS,
                   fmin: float = FMIN, fmax: float = FMAX) -> np.ndarray:
    """Triangular mel filters on the Slaney mel scale with Slaney (unit-area) normalisation.

    ``n_mels + 2`` edge frequencies equally spaced in mel from ``fmin`` to ``fmax``; filter
    ``i`` rises linearly (in Hz) from edge ``i`` to 1 at edge ``i+1`` and falls to 0 at edge
    ``i+2``, then is scaled by ``2 / (f[i+2] - f[i])``.

    Returns:
        float32 ``[n_mels, 1 + n_fft // 2]``: ``mel = filterbank @ |STFT|``.
    """
    if not (0 <= fmin < fmax <= sample_rate / 2):
        raise ValueError(f"mel_filterbank: need 0 <= 'fmin' < 'fmax' <= sample_rate / 2, got fmin={fmin}, "
                         f"fmax={fmax}, sample_rate={sample_rate}")
    if n_mels < 1 or n_fft < 2:
        raise ValueError(f"mel_filterbank: 'n_mels' must be >= 1 and 'n_fft' >= 2, got {n_mels}, {n_fft}")
    fft_hz = np.linspace(0.0, sample_rate / 2.0, 1 + n_fft // 2)
    edges = _mel_to_hz(np.linspace(_hz_to_mel(fmin), _hz_to_mel(fmax), n_mels + 2))
    width = np.diff(edges)
    dist = edges[:, None] - fft_hz[None, :]  # [n_mels + 2, bins]
    rise = -dist[:-2] / width[:-1, None]
    fall = dist[2:] / width[1:, None]
    weights = np.maximum(0.0, np.minimum(rise, fall))
    weights *= (2.0 / (edges[2:] - edges[:-2]))[:, None]
    return weights.astype(np.float32)


_FB64: Optional[np.ndarray] = None
_HANN: Optional[np.ndarray] = None


def _constants() -> tuple[np.ndarray, np.ndarray]:
    global _FB64, _HANN
    if _FB64 is None:
        _FB64 = mel_filterbank().astype(np.float64)
        n = np.arange(WIN, dtype=np.float64)
        _HANN = 0.5 - 0.5 * np.cos(2.0 * np.pi * n / WIN)  # periodic (FFT) Hann
    return _FB64, _HANN  # type: ignore[return-value]


def _frames_to_mel(padded: np.ndarray, first: int, count: int) -> np.ndarray:
    """Mel rows for ``count`` STFT frames whose windows start at ``padded[first + j * HOP]``."""
    fb, hann = _constants()
    if count <= 0:
        return np.zeros((0, N_MELS), np.float32)
    view = np.lib.stride_tricks.sliding_window_view(padded[first:first + (count - 1) * HOP + N_FFT], N_FFT)[::HOP]
    spec = np.abs(np.fft.rfft(view * hann, n=N_FFT, axis=1))  # [count, 401]
    mel = spec @ fb.T
    db = 20.0 * np.log10(np.maximum(1e-5, mel)) - REF_LEVEL_DB
    norm = np.clip(2.0 * MAX_ABS * (db - MIN_LEVEL_DB) / (-MIN_LEVEL_DB) - MAX_ABS, -MAX_ABS, MAX_ABS)
    return norm.astype(np.float32)


def _as_wave(fn: str, wav: object) -> np.ndarray:
    if not isinstance(wav, np.ndarray):
        raise TypeError(f"{fn}: argument 'wav' must be a 1-D float numpy array, got {type(wav).__name__}")
    if wav.ndim != 1:
        raise ValueError(f"{fn}: argument 'wav' must be 1-D (mono samples), got shape {wav.shape}")
    if wav.dtype.kind != "f":
        raise TypeError(f"{fn}: argument 'wav' must be float (samples in [-1, 1]), got {wav.dtype}")
    return wav.astype(np.float64)


def melspectrogram(wav: np.ndarray) -> np.ndarray:
    """Diff2Lip's normalised log-mel spectrogram of a whole 16 kHz mono signal.

    Args:
        wav: 1-D float array (float32 / float64), samples in [-1, 1] at 16 kHz.

    Returns:
        float32 ``[1 + len(wav) // 200, 80]`` in [-4, 4], time-major (one row per 12.5 ms).
    """
    x = _as_wave("melspectrogram", wav)
    y = x.copy()
    y[1:] -= PREEMPHASIS * x[:-1]
    padded = np.pad(y, (N_FFT // 2, N_FFT // 2))
    return _frames_to_mel(padded, 0, 1 + x.shape[0] // HOP)


class MelStream:
    """:func:`melspectrogram` computed while the audio arrives.

    ``push(chunk)`` returns the mel rows completed by that chunk (a frame is complete once
    the samples up to 400 past its centre have arrived); ``flush()`` returns the last rows
    (right edge zero-padded) and ends the stream. Concatenated, the rows equal
    ``melspectrogram(whole signal)``. Holds at most one FFT window plus one chunk of samples.

    ``frames_out``: the number of rows returned so far; ``samples_in``: samples pushed.
    """

    def __init__(self) -> None:
        self._prev = 0.0  # last raw sample, for the pre-emphasis across chunks
        self._buf = np.zeros(N_FFT // 2, np.float64)  # left zero padding of the centred STFT
        self._buf_start = 0  # padded-signal index of self._buf[0]
        self.frames_out = 0
        self.samples_in = 0
        self._closed = False

    def push(self, chunk: np.ndarray) -> np.ndarray:
        """Add 1-D float samples; returns float32 ``[n, 80]`` newly completed rows (n may be 0)."""
        if self._closed:
            raise RuntimeError("MelStream.push: the stream was flushed")
        x = _as_wave("MelStream.push", chunk)
        if x.size == 0:
            return np.zeros((0, N_MELS), np.float32)
        y = x.copy()
        y[0] -= PREEMPHASIS * self._prev
        y[1:] -= PREEMPHASIS * x[:-1]
        self._prev = float(x[-1])
        self.samples_in += x.shape[0]
        self._buf = np.concatenate([self._buf, y])
        return self._emit(final=False)

    def flush(self) -> np.ndarray:
        """The remaining rows (the right edge zero-padded); the stream then ends."""
        if self._closed:
            return np.zeros((0, N_MELS), np.float32)
        self._closed = True
        self._buf = np.concatenate([self._buf, np.zeros(N_FFT // 2)])
        return self._emit(final=True)

    def _emit(self, final: bool) -> np.ndarray:
        end = self._buf_start + self._buf.shape[0]  # padded samples available
        # frame j needs padded samples [j * HOP, j * HOP + N_FFT)
        ready = (end - N_FFT) // HOP + 1 if end >= N_FFT else 0
        if final:
            ready = min(ready, 1 + self.samples_in // HOP)
        count = ready - self.frames_out
        if count <= 0:
            return np.zeros((0, N_MELS), np.float32)
        out = _frames_to_mel(self._buf, self.frames_out * HOP - self._buf_start, count)
        self.frames_out = ready
        drop = self.frames_out * HOP - self._buf_start  # samples no later frame needs
        if drop > 0:
            self._buf = self._buf[drop:]
            self._buf_start += drop
        return out


# --------------------------------------------------------------------------- per-frame windows

def _check_fps(fn: str, fps: float) -> float:
    try:
        f = float(fps)
    except (TypeError, ValueError):
        raise TypeError(f"{fn}: argument 'fps' must be a number, got {type(fps).__name__}") from None
    if not math.isfinite(f) or f <= 0:
        raise ValueError(f"{fn}: argument 'fps' must be positive and finite, got {fps!r}")
    return f


def mel_window_start(k: int, fps: float = 25.0) -> int:
    """First mel step of output frame ``k``'s window.

    At 25 fps this is Diff2Lip's ``generate.py``: ``int(80 * (max(k - 1, 0) / 25))`` =
    ``int(3.2 * max(k - 1, 0))`` (its loop starts at i = 1 and crops at ``i - syncnet_T // 2``;
    Wav2Lip would use ``int(k * 80 / fps)``). Other frame rates keep the same alignment in
    time: frame k is shown at ``k / fps`` seconds and its 0.2 s window starts one 25 fps frame
    (40 ms) earlier, clamped at 0, i.e. ``int(80 * (max(k - fps / 25, 0) / fps))``: 80 / fps
    mel steps per video frame (3.2 at 25 fps, 2.67 at 30, 1.33 at 60).
    """
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 0:
        raise ValueError(f"mel_window_start: argument 'k' must be an int >= 0, got {k!r}")
    f = _check_fps("mel_window_start", fps)
    lead_frames = f * _LEAD_SECONDS  # exactly 1.0 at 25 fps: Diff2Lip's float expression
    return int(MEL_STEPS_PER_SECOND * (max(int(k) - lead_frames, 0) / f))


def mel_window(mel: np.ndarray, k: int, fps: float = 25.0, *, offset: int = 0) -> np.ndarray:
    """Output frame ``k``'s model window: float32 ``[80, 16]`` (bands x steps).

    Args:
        mel: ``[T, 80]`` rows of :func:`melspectrogram` / :class:`MelStream`.
        k: output frame index (0-based).
        fps: the video's frame rate (see :func:`mel_window_start`).
        offset: the mel step index of ``mel[0]`` when ``mel`` holds only the tail of a stream.

    Raises:
        ValueError: the window is not (entirely) inside ``mel``.
    """
    if not isinstance(mel, np.ndarray) or mel.ndim != 2 or mel.shape[1] != N_MELS:
        desc = f"shape {mel.shape}" if isinstance(mel, np.ndarray) else type(mel).__name__
        raise ValueError(f"mel_window: argument 'mel' must be a [T, {N_MELS}] array, got {desc}")
    s = mel_window_start(k, fps) - int(offset)
    if s < 0 or s + MEL_WINDOW > mel.shape[0]:
        raise ValueError(
            f"mel_window: frame {k} needs mel steps {s + offset}..{s + offset + MEL_WINDOW - 1}, "
            f"'mel' holds steps {offset}..{offset + mel.shape[0] - 1}")
    return np.ascontiguousarray(mel[s:s + MEL_WINDOW].T, dtype=np.float32)


def num_mel_windows(n_mel: int, fps: float = 25.0) -> int:
    """How many output frames a spectrogram of ``n_mel`` rows drives (frames whose whole
    window fits; Diff2Lip stops at the first window that would be short)."""
    if isinstance(n_mel, bool) or not isinstance(n_mel, (int, np.integer)) or n_mel < 0:
        raise ValueError(f"num_mel_windows: argument 'n_mel' must be an int >= 0 (mel rows), got {n_mel!r}")
    f = _check_fps("num_mel_windows", fps)
    if n_mel < MEL_WINDOW:
        return 0
    # the start is non-decreasing in k: estimate, then step to the exact boundary
    k = max(0, int((n_mel - MEL_WINDOW) * f / MEL_STEPS_PER_SECOND + f * _LEAD_SECONDS) - 2)
    while k > 0 and mel_window_start(k - 1, f) + MEL_WINDOW > n_mel:
        k -= 1
    while mel_window_start(k, f) + MEL_WINDOW <= n_mel:
        k += 1
    return k
