// FaceFusion 3.5-3.8's paste_back (face_helper.paste_back) as one native pass:
// the crop and mask read in place whatever their dtype and strides, the paste box
// rounded as FaceFusion's calculate_paste_area rounds it, each warp sampled the way
// the installed OpenCV samples that dtype, the blend truncated like numpy's astype.
// facefuse.reference.compat_facefusion spells the same arithmetic out in NumPy.
//
//  * box: the crop corners (0,0) (w,0) (w,h) (0,h) as int32 points through the
//    inverse affine in double, each rounded half to even (cv2.transform of FaceFusion's
//    integer corner array), min / max, clipped to the frame;
//  * "exact" sampling (OpenCV 5.x for uint8 / float32 sources): paste_math.hpp's
//    float32 fma positions and lerps; "quantised" sampling (OpenCV 5.x for float64
//    sources, and every OpenCV 4.x float warp): positions rounded to 1/32 px through
//    cv2's 1/1024-px fixed point, float32 table weights, the four products summed
//    in double in order;
//  * blend: frame * (1 - m) + warped * m with m the warped mask clipped to [0, 1],
//    in numpy's promotion of (frame, mask, crop) dtypes; stored with truncation
//    (uint8 frames) where the mask is > 0; other pixels keep the frame's value.
#pragma once

#include <cstddef>
#include <cstdint>

#include "facefuse/paste_math.hpp"

namespace facefuse::ffpaste {

enum class DType : int { u8 = 0, f32 = 1, f64 = 2 };

// An image read in place: element (y, x, c) at data + y*sy + x*sx + c*sc (bytes,
// any sign); data points at element (0, 0, 0).
struct View {
  const unsigned char* data;
  DType dt;
  int h, w;
  std::ptrdiff_t sy, sx, sc;
};

struct Setup {
  paste::PasteBox box;
  float k[6];   // box -> crop, float32 (the "exact" sampling)
  double kd[6]; // box -> crop, double (the "quantised" sampling)
};

// FaceFusion's paste geometry for an h x w crop in an H x W frame (`affine` frame ->
// crop, float32 values when affine_f32). False when a matrix is singular / not finite.
bool setup(const double* affine, bool affine_f32, int crop_h, int crop_w, int frame_h, int frame_w, Setup* s);

// Pastes `crop` under `mask` into the C-contiguous H x W x 3 image `img` (in place).
// opencv4: OpenCV 4.x's arithmetic: uint8 sources in its 1/32-px fixed point, float32
// ones quantised to 1/32 px; otherwise (OpenCV 5.x) uint8 / float32 sources are sampled
// "exact" (float positions). float64 sources are always quantised (5.x does too).
void paste_u8(std::uint8_t* img, int W, const View& crop, const View& mask, const Setup& s, bool opencv4);
void paste_f32(float* img, int W, const View& crop, const View& mask, const Setup& s, bool opencv4);

}  // namespace facefuse::ffpaste
