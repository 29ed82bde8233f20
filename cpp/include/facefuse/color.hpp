// CPU kernels of the color family: CIELAB conversion (bit-compatible with
// cv2.cvtColor on float32 BGR in [0, 1]) and Reinhard mean/std colour transfer.
// Plain pointers and sizes; images are C-contiguous interleaved B, G, R pixels.
#pragma once

#include <cstdint>

namespace facefuse::color {

// The forward table (33^3 cells x 8 corners x (L, a, b), int16, fixed point) and
// the companding spline (1024 x 4 floats). Built once on first use (thread-safe);
// the same tables are what a GPU backend would upload.
const std::int16_t* lab_lut();
const float* gamma_inv_spline();

// n pixels of B, G, R -> L, a, b (L in [0, 100]). float input: [0, 1] (clipped, as cv2);
// uint8 input: value / 255.
void bgr_to_lab(const float* src, float* dst, std::int64_t n);
void bgr_to_lab(const std::uint8_t* src, float* dst, std::int64_t n);

// n pixels of L, a, b -> B, G, R in [0, 1].
void lab_to_bgr(const float* src, float* dst, std::int64_t n);

// Weighted per-channel LAB statistics of an image (uint8 0..255 or float 0..255).
struct LabStats {
  double mean[3];
  double std[3];    // population standard deviation
  double weight;    // sum of the mask weights (pixel count without a mask)
};
LabStats lab_stats(const std::uint8_t* img, const float* mask, std::int64_t n);
LabStats lab_stats(const float* img, const float* mask, std::int64_t n);

enum class TransferStatus { ok = 0, src_mask_empty = 1, ref_mask_empty = 2 };

// Reinhard transfer of ref's LAB mean/std onto src (n_src / n_ref pixels; masks
// are n_src / n_ref floats in [0, 1] or null), blended with src by strength in
// [0, 1]; dst has n_src pixels. uint8: rounded and saturated; float (0..255 scale):
// clipped to [0, 255]. Returns a non-ok status (dst untouched) when a mask has
// zero total weight.
TransferStatus color_transfer(const std::uint8_t* src, std::int64_t n_src, const std::uint8_t* ref,
                              std::int64_t n_ref, const float* src_mask, const float* ref_mask, float strength,
                              std::uint8_t* dst);
TransferStatus color_transfer(const float* src, std::int64_t n_src, const float* ref, std::int64_t n_ref,
                              const float* src_mask, const float* ref_mask, float strength, float* dst);

}  // namespace facefuse::color
