// Per-pixel maths of the temporal quality metrics (tPSNR). Plain FF_HD
// functions so the CPU loops and a later CUDA backend share the arithmetic.
#pragma once

#include <cmath>
#include <cstdint>

#include "facefuse/common.hpp"

namespace facefuse::quality {

// Peak value of both supported frame types (uint8, and float32 on the 0..255 scale).
constexpr double kPeak = 255.0;

// Squared difference of two uint8 samples, exact in int32 (max 65025).
// The int16 difference lets compilers use 16-bit multiply-add (pmaddwd) lanes.
FF_HD std::int32_t sq_diff_u8(std::uint8_t a, std::uint8_t b) {
  const std::int16_t d = static_cast<std::int16_t>(static_cast<std::int16_t>(a) - static_cast<std::int16_t>(b));
  return static_cast<std::int32_t>(d) * d;
}

// Squared difference of two float32 samples, computed in double.
FF_HD double sq_diff_f32(float a, float b) {
  const double d = static_cast<double>(a) - static_cast<double>(b);
  return d * d;
}

// One pixel's weighted contribution: mask weight times the squared error summed over channels.
FF_HD double weighted_sq(float weight, double sum_sq_over_channels) {
  return static_cast<double>(weight) * sum_sq_over_channels;
}

// Mean squared error from the accumulated sums.
// Unweighted: sse / (n_pixels * channels). Weighted: sse / (channels * sum(mask)).
FF_HD double mse_from_sums(double sse, double weight_sum, int channels) {
  return sse / (static_cast<double>(channels) * weight_sum);
}

// PSNR in dB: 10 * log10(peak^2 / mse); +inf when mse == 0 (identical frames).
FF_HD double psnr_from_mse(double mse, double peak = kPeak) {
  if (!(mse > 0.0)) return mse == 0.0 ? HUGE_VAL : mse;  // propagate NaN / negative
  return 10.0 * std::log10((peak * peak) / mse);
}

}  // namespace facefuse::quality
