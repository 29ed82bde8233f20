"""Lip-sync audio: decoding to 16 kHz mono, Diff2Lip's mel spectrogram (checked against
librosa, an independent implementation), its streaming form and the per-frame windows."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

from facefuse.lipsync import audio as A
from facefuse.testing.media import synth_speech, write_audio, write_clip


def _librosa_mel(wav: np.ndarray) -> np.ndarray:
    """Diff2Lip's audio.melspectrogram written with librosa + scipy (its own code path)."""
    librosa = pytest.importorskip("librosa")
    from scipy import signal

    y = signal.lfilter([1, -0.97], [1], wav.astype(np.float64))
    with warnings.catch_warnings():  # librosa warns on signals shorter than n_fft (fine: padded)
        warnings.simplefilter("ignore", UserWarning)
        d = librosa.stft(y=y, n_fft=800, hop_length=200, win_length=800, center=True, pad_mode="constant")
    fb = librosa.filters.mel(sr=16000, n_fft=800, n_mels=80, fmin=55, fmax=7600, htk=False, norm="slaney")
    s = 20 * np.log10(np.maximum(1e-5, fb.astype(np.float64) @ np.abs(d))) - 20
    return np.clip(8 * (s + 100) / 100 - 4, -4, 4).T


def test_filterbank_matches_librosa() -> None:
    librosa = pytest.importorskip("librosa")
    ref = librosa.filters.mel(sr=16000, n_fft=800, n_mels=80, fmin=55, fmax=7600, htk=False, norm="slaney")
    fb = A.mel_filterbank()
    assert fb.shape == (80, 401) and fb.dtype == np.float32
    np.testing.assert_allclose(fb, ref, rtol=1e-5, atol=1e-8)
    # other parameters too (not just the defaults)
    ref2 = librosa.filters.mel(sr=22050, n_fft=1024, n_mels=40, fmin=0, fmax=11025, htk=False, norm="slaney")
    np.testing.assert_allclose(A.mel_filterbank(22050, 1024, 40, 0.0, 11025.0), ref2, rtol=1e-5, atol=1e-8)


@pytest.mark.parametrize("n", [1, 199, 200, 401, 799, 800, 1234, 16000 * 2 + 77])
def test_melspectrogram_matches_librosa(n: int) -> None:
    wav = synth_speech(n / 16000 + 0.01)[:n]
    mel = A.melspectrogram(wav)
    ref = _librosa_mel(wav)
    assert mel.shape == (1 + n // 200, 80) == ref.shape and mel.dtype == np.float32
    np.testing.assert_allclose(mel, ref, atol=2e-5)
    assert mel.min() >= -4 and mel.max() <= 4


def test_melspectrogram_is_not_trivial() -> None:
    mel = A.melspectrogram(synth_speech(2.0))
    assert mel.std() > 0.5  # speech-like input spans the range, not one clipped value
    silent = A.melspectrogram(np.zeros(4000, np.float32))
    assert np.all(silent == -4.0)  # 20 log10(1e-5) - 20 = -120 dB -> clipped to -4


def test_mel_stream_equals_whole(rng: np.random.Generator) -> None:
    wav = synth_speech(3.3, seed=3)
    whole = A.melspectrogram(wav)
    for sizes in ([1] * 900, list(rng.integers(1, 4000, 60)), [len(wav)], [0, 5, 0, 200, 3]):
        ms = A.MelStream()
        rows, i = [], 0
        for s in sizes:
            if i >= len(wav):
                break
            rows.append(ms.push(wav[i:i + s]))
            i += s
        rows.append(ms.push(wav[i:]))
        rows.append(ms.flush())
        got = np.concatenate(rows)
        n = sum(len(r) for r in rows[:-1])
        assert n >= whole.shape[0] - 3  # rows come out as audio arrives, not all at flush
        assert got.shape == whole.shape
        np.testing.assert_allclose(got, whole, atol=1e-6)
        assert ms.flush().shape == (0, 80)
        with pytest.raises(RuntimeError):
            ms.push(wav[:10])


def test_mel_stream_holds_bounded_samples() -> None:
    ms = A.MelStream()
    chunk = synth_speech(0.5)
    for _ in range(40):  # 20 s
        ms.push(chunk)
        assert ms._buf.shape[0] <= A.N_FFT + chunk.shape[0]
    assert ms.frames_out >= 20 * 80 - 4


def test_decode_resamples_to_16k_mono(tmp_path) -> None:
    t = np.arange(48000 * 2) / 48000
    stereo = np.stack([0.8 * np.sin(2 * np.pi * 440 * t), np.zeros_like(t)], 1)
    for ext in ("wav", "m4a", "mp3"):
        p = tmp_path / f"tone.{ext}"
        write_audio(p, stereo, 48000)
        a = A.load_audio(p)
        assert a.dtype == np.float32 and a.ndim == 1
        assert abs(a.shape[0] - 32000) < 0.02 * 32000  # codec padding at most a few ms
        seg = a[4000:20000]
        spec = np.abs(np.fft.rfft(seg))
        assert np.argmax(spec) * 16000 / seg.shape[0] == pytest.approx(440, abs=2)
        assert np.abs(seg).max() == pytest.approx(0.4, abs=0.03)  # mean of the channels
    chunks = list(A.decode_audio(tmp_path / "tone.wav", chunk_samples=5000))
    assert all(c.shape[0] >= 5000 for c in chunks[:-1]) and sum(c.shape[0] for c in chunks) == 32000


def test_decode_16k_wav_is_exact(tmp_path) -> None:
    x = synth_speech(1.0)
    write_audio(tmp_path / "s.wav", x, 16000)
    got = A.load_audio(tmp_path / "s.wav")
    assert got.shape == x.shape
    np.testing.assert_allclose(got, x, atol=1 / 32768 + 1e-7)  # s16 quantisation only


def test_decode_video_audio_track(tmp_path) -> None:
    write_clip(tmp_path / "v.mp4", 1.0, audio=synth_speech(1.0))
    a = A.load_audio(tmp_path / "v.mp4")
    assert abs(a.shape[0] - 16000) < 2048 and np.abs(a).max() > 0.3


def test_decode_checks_its_arguments_when_called(tmp_path) -> None:
    # not only once iterated: the caller (e.g. lipsync_video's audio feed, set up before its
    # worker thread) gets the error where it passes the argument
    with pytest.raises(FileNotFoundError, match="path"):
        A.decode_audio(tmp_path / "missing.wav")
    write_audio(tmp_path / "s.wav", synth_speech(0.1), 16000)
    with pytest.raises(ValueError, match="chunk_samples"):
        A.decode_audio(tmp_path / "s.wav", chunk_samples=0)
    with pytest.raises(ValueError, match="sample_rate"):
        A.decode_audio(tmp_path / "s.wav", sample_rate=-1)
    with pytest.raises(TypeError, match="path"):
        A.decode_audio(1234)  # type: ignore[arg-type]


def test_decode_errors(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match="path"):
        A.load_audio(tmp_path / "missing.wav")
    write_clip(tmp_path / "silent.mp4", 0.2)
    with pytest.raises(ValueError, match="no audio stream"):
        A.load_audio(tmp_path / "silent.mp4")
    (tmp_path / "junk.wav").write_bytes(b"not audio at all" * 10)
    with pytest.raises(ValueError, match="junk.wav"):
        A.load_audio(tmp_path / "junk.wav")
    with pytest.raises(ValueError, match="sample_rate"):
        A.load_audio(tmp_path / "silent.mp4", sample_rate=0)
    with pytest.raises(TypeError, match="wav"):
        A.melspectrogram([0.0, 1.0])
    with pytest.raises(ValueError, match="wav"):
        A.melspectrogram(np.zeros((2, 100), np.float32))
    with pytest.raises(TypeError, match="wav"):
        A.melspectrogram(np.zeros(100, np.int16))


def test_window_start_is_diff2lips_at_25fps() -> None:
    # Diff2Lip generate.py: i starts at 1, crop_audio_window(mel, max(i - 5 // 2, 0)) with
    # start_idx = int(80. * (frame / float(25))); output frame k is i = k + 1.
    for k in range(5000):
        i = k + 1
        assert A.mel_window_start(k, 25) == int(80.0 * (max(i - 5 // 2, 0) / float(25)))
    assert [A.mel_window_start(k) for k in range(8)] == [0, 0, 3, 6, 9, 12, 16, 19]


@pytest.mark.parametrize("fps", [24, 30, 50, 59.94])
def test_window_start_other_rates_keep_time_alignment(fps: float) -> None:
    for k in range(0, 3000, 7):
        t = max(k / fps - 0.04, 0.0)  # one 25 fps frame ahead of the shown frame, in seconds
        assert abs(A.mel_window_start(k, fps) - 80 * t) <= 1.0
    starts = [A.mel_window_start(k, fps) for k in range(500)]
    assert starts == sorted(starts)
    assert (starts[-1] - starts[100]) / 399 == pytest.approx(80 / fps, rel=0.01)


def test_mel_window_and_count() -> None:
    mel = A.melspectrogram(synth_speech(2.0))  # 161 rows
    n = A.num_mel_windows(mel.shape[0], 25)
    assert A.mel_window_start(n - 1) + 16 <= mel.shape[0] < A.mel_window_start(n) + 16
    w = A.mel_window(mel, 7)
    assert w.shape == (80, 16) and w.dtype == np.float32
    np.testing.assert_array_equal(w, mel[19:35].T)
    with pytest.raises(ValueError, match="frame"):
        A.mel_window(mel, n)
    # a stream's tail: offset says which step mel[0] is
    np.testing.assert_array_equal(A.mel_window(mel[10:], 7, offset=10), w)
    with pytest.raises(ValueError):
        A.mel_window(mel[20:], 7, offset=20)
    for fps in (25, 30, 60):
        for rows in (0, 15, 16, 17, 100, 161):
            c = A.num_mel_windows(rows, fps)
            assert c == sum(1 for k in range(400) if A.mel_window_start(k, fps) + 16 <= rows)
    with pytest.raises(ValueError, match="'n_mel'"):
        A.num_mel_windows(-5)
    with pytest.raises(ValueError, match="fps"):
        A.mel_window_start(3, 0)
    with pytest.raises(ValueError, match="'k'"):
        A.mel_window_start(-1)
