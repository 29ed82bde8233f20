// Small per-face helpers of the FaceFusion drop-in (facefuse.compat.facefusion):
// a frame hash for FaceFusion's face store, the pixel-boost tile shuffles and the
// face enhancer's output conversion.
#pragma once

#include <cstddef>
#include <cstdint>

namespace facefuse::ffhelp {

// A 64-bit non-cryptographic hash of n bytes (eight xxh3-style lanes over 64-byte
// stripes, AVX2 where the CPU has it; the tail and the length mixed in). The same
// value on every CPU and run.
std::uint64_t hash64(const unsigned char* p, std::size_t n);

// An n-D strided array of pixels: element (y, x, c) at base + y*sy + x*sx + c*sc (bytes).
struct Pix {
  const unsigned char* base;
  std::ptrdiff_t sy, sx, sc;
};

// Pixel boost implode: out[(i*t + j), r, c, :] = src[r*t + i, c*t + j, :]; out is
// C-contiguous (t*t, m0, m1, ch) of `item`-byte elements.
void implode(const Pix& src, int t, int m0, int m1, int ch, int item, unsigned char* out);

// Pixel boost explode: out[r*t + i, c*t + j, :] = tiles[i*t + j][r, c, :]; out is
// C-contiguous (m0*t, m1*t, ch).
void explode(const Pix* tiles, int t, int m0, int m1, int ch, int item, unsigned char* out);

// FaceFusion's face_enhancer normalize_crop_frame of a float32 model output: each
// element round_half_even(float32(float32(float32(clip(v, -1, 1) + 1) / 2) * 255))
// as uint8 (numpy's float32 steps), written planar: out[c][y][x] (C-contiguous
// ch x h x w) from src element (y, x, c). False when an element is NaN (numpy's
// astype of NaN is not defined: the caller runs FaceFusion's own function).
bool enhancer_normalize(const Pix& src, int h, int w, int ch, unsigned char* out);

}  // namespace facefuse::ffhelp
