// The argument contract of the paste family (warp_affine, paste_back), shared by
// the CPU binding (cpp/bindings/paste.cpp) and the CUDA binding
// (cuda/bindings/paste.cpp): ArrayDescs in, sizes out, ArgError naming the
// function and the argument (contract.hpp). What only one backend needs (finite
// values on the host, C-contiguous device memory) stays in that binding.
#pragma once

#include <cstdint>
#include <string>

#include "contract.hpp"

namespace facefuse::bind {

constexpr std::int64_t kPasteMaxDim = 1 << 16;  // 65536 px a side is far beyond 8K frames / 1024 crops

inline int paste_dim(const ArrayDesc& a, int axis, const char* fn, const char* arg) {
  return side(a, axis, fn, arg, kPasteMaxDim);
}

// ---- warp_affine -------------------------------------------------------------------

struct WarpImage {
  bool u8;
  int h, w, c;
};

// img: uint8 / float32, H x W or H x W x C (C in 1..4), non-empty.
inline WarpImage warp_image_contract(const char* fn, const ArrayDesc& img) {
  WarpImage s;
  if (!img.is_u8() && !img.is_f32()) type_error(fn, "img", "a uint8 or float32 image", img.describe());
  s.u8 = img.is_u8();
  if (!(img.ndim() == 2 || (img.ndim() == 3 && img.dim(2) >= 1 && img.dim(2) <= 4)))
    value_error(fn, "img", "must be H x W or H x W x C with C in 1..4, got " + img.describe());
  require_nonempty(img, fn, "img");
  s.h = paste_dim(img, 0, fn, "img");
  s.w = paste_dim(img, 1, fn, "img");
  s.c = img.ndim() == 3 ? static_cast<int>(img.dim(2)) : 1;
  return s;
}

// M: float32 / float64, 2 x 3, or (batch_ok) K x 2 x 3 with K >= 1. Returns K
// (0 for a single 2 x 3 matrix: the output has no batch axis).
inline std::int64_t warp_matrix_contract(const char* fn, const ArrayDesc& m) {
  if (!m.is_f32() && !m.is_f64()) type_error(fn, "M", "a float32 or float64 2 x 3 matrix", m.describe());
  const bool one = m.ndim() == 2, batch = m.ndim() == 3;
  if (!(one || batch) || m.dim(-2) != 2 || m.dim(-1) != 3)
    value_error(fn, "M", "must be a 2 x 3 matrix or a K x 2 x 3 batch of them, got " + m.describe());
  if (batch && (m.dim(0) < 1 || m.dim(0) > (1 << 24)))
    value_error(fn, "M", "must hold 1 .. 2^24 matrices, got " + m.describe());
  return batch ? m.dim(0) : 0;
}

inline void warp_dsize_contract(const char* fn, long long dw, long long dh) {
  if (dw < 1 || dh < 1 || dw > kPasteMaxDim || dh > kPasteMaxDim)
    value_error(fn, "dsize", "must be (width, height) with both in 1..65536, got (" + std::to_string(dw) + ", " +
                                 std::to_string(dh) + ")");
}

// Returns true for 'replicate'.
inline bool warp_border_contract(const char* fn, const std::string& border) {
  if (border != "constant" && border != "replicate")
    value_error(fn, "border", "must be 'constant' or 'replicate', got '" + border + "'");
  return border == "replicate";
}

// ---- paste_back --------------------------------------------------------------------

enum class PasteBlendKind { alpha = 0, laplacian = 1, poisson = 2 };

inline PasteBlendKind paste_blend_contract(const char* fn, const std::string& b) {
  if (b == "alpha") return PasteBlendKind::alpha;
  if (b == "laplacian") return PasteBlendKind::laplacian;
  if (b == "poisson") return PasteBlendKind::poisson;
  value_error(fn, "blend", "must be 'alpha', 'laplacian' or 'poisson', got '" + b + "'");
}

// Returns true for 'lab' (the caller passes has_color = false for None).
inline bool paste_color_contract(const char* fn, bool has_color, const std::string& c) {
  if (has_color && c != "lab") value_error(fn, "color", "must be None or 'lab', got '" + c + "'");
  return has_color;
}

struct PasteFrame {
  bool u8;
  bool batched;  // N x H x W x 3 frames (faces placed by frame_index)
  int n, h, w;
};

// frame: uint8 / float32 H x W x 3, or (with frame_index) N x H x W x 3; non-empty.
inline PasteFrame paste_frame_contract(const char* fn, const ArrayDesc& frame, bool has_index) {
  PasteFrame s;
  if (!frame.is_u8() && !frame.is_f32())
    type_error(fn, "frame", "a uint8 or float32 H x W x 3 BGR frame", frame.describe());
  s.u8 = frame.is_u8();
  s.batched = frame.ndim() == 4;
  if ((frame.ndim() != 3 && !s.batched) || frame.dim(-1) != 3)
    value_error(fn, "frame", "must be an H x W x 3 BGR frame (or N x H x W x 3 with frame_index), got " +
                                 frame.describe());
  if (s.batched && !has_index)
    value_error(fn, "frame_index", "must give each face's frame when 'frame' is an N x H x W x 3 batch " +
                                       frame.shape_str());
  if (!s.batched && has_index)
    value_error(fn, "frame_index", "needs an N x H x W x 3 batch of frames, got 'frame' " + frame.describe());
  require_nonempty(frame, fn, "frame");
  const int lead = s.batched ? 1 : 0;
  s.n = s.batched ? side(frame, 0, fn, "frame", 1 << 24) : 1;
  s.h = paste_dim(frame, lead, fn, "frame");
  s.w = paste_dim(frame, lead + 1, fn, "frame");
  return s;
}

// One argument of the face batch: an item (ndim == item_ndim) counts 1, a batch
// (ndim == item_ndim + 1) its leading size (>= 1). `layout` names the item.
inline std::int64_t paste_batch_contract(const char* fn, const char* arg, const ArrayDesc& a, int item_ndim,
                                         const char* layout) {
  if (a.ndim() == item_ndim) return 1;
  if (a.ndim() != item_ndim + 1)
    value_error(fn, arg, std::string("must be ") + layout + " or a batch of them, got " + a.describe());
  if (a.dim(0) == 0) value_error(fn, arg, "must not be an empty batch, got " + a.describe());
  return a.dim(0);
}

// An item of a list / tuple argument.
inline void paste_list_item_contract(const char* fn, const char* arg, const ArrayDesc& a, int item_ndim,
                                     const char* layout) {
  if (a.ndim() != item_ndim)
    value_error(fn, arg, std::string("must hold ") + layout + " items, got an item " + a.describe());
}

inline void paste_list_contract(const char* fn, const char* arg, std::size_t n) {
  if (n == 0) value_error(fn, arg, "must not be an empty list");
}

// As many masks and matrices as crops.
inline void paste_counts_contract(const char* fn, std::size_t crops, std::size_t masks, std::size_t affines) {
  if (masks != crops)
    value_error(fn, "crop_mask", "must give one mask per crop (" + std::to_string(crops) + "), got " +
                                     std::to_string(masks));
  if (affines != crops)
    value_error(fn, "affine", "must give one matrix per crop (" + std::to_string(crops) + "), got " +
                                  std::to_string(affines));
}

struct CropSize {
  int h, w;
};

// crop: the frame's dtype, h x w x 3, non-empty; mask: float32 h x w.
inline CropSize paste_face_contract(const char* fn, const ArrayDesc& frame, const ArrayDesc& crop,
                                    const ArrayDesc& mask) {
  if (!crop.same_dtype(frame))
    type_error(fn, "crop", "an h x w x 3 crop of the frame's dtype (" + frame.dtype + ")", crop.describe());
  if (crop.dim(2) != 3) value_error(fn, "crop", "must be h x w x 3, got " + crop.describe());
  require_nonempty(crop, fn, "crop");
  const CropSize s{paste_dim(crop, 0, fn, "crop"), paste_dim(crop, 1, fn, "crop")};
  if (!mask.is_f32()) type_error(fn, "crop_mask", "a float32 h x w mask", mask.describe());
  if (mask.dim(0) != s.h || mask.dim(1) != s.w)
    value_error(fn, "crop_mask", "must be h x w matching 'crop' (" + std::to_string(s.h) + ", " +
                                     std::to_string(s.w) + "), got " + mask.describe());
  return s;
}

// A 2 x 3 frame -> crop matrix, float32 / float64 (the values are checked by the caller).
inline void paste_affine_contract(const char* fn, const ArrayDesc& a) {
  if (!a.is_f32() && !a.is_f64()) type_error(fn, "affine", "a float32 or float64 2 x 3 matrix", a.describe());
  if (a.ndim() != 2 || a.dim(0) != 2 || a.dim(1) != 3)
    value_error(fn, "affine", "must be a 2 x 3 matrix, got " + a.describe());
}

// frame_index[k]: the frame (0 .. n - 1) face k goes into.
inline int paste_index_contract(const char* fn, long long v, int n) {
  if (v < 0 || v >= n)
    value_error(fn, "frame_index", "must hold frame numbers in 0.." + std::to_string(n - 1) + ", got " +
                                       std::to_string(v));
  return static_cast<int>(v);
}

inline void paste_index_count_contract(const char* fn, std::size_t got, std::size_t faces) {
  if (got != faces)
    value_error(fn, "frame_index", "must give one frame number per crop (" + std::to_string(faces) + "), got " +
                                       std::to_string(got));
}

// out: the frame's dtype and shape, C-contiguous.
inline void paste_out_contract(const char* fn, const ArrayDesc& frame, const ArrayDesc& out) {
  if (!out.same_dtype(frame))
    type_error(fn, "out", "a " + frame.dtype + " array like 'frame'", out.describe());
  if (!out.same_shape(frame))
    value_error(fn, "out", "must have the frame's shape " + frame.shape_str() + ", got " + out.describe());
  if (!out.c_contiguous()) value_error(fn, "out", "must be C-contiguous");
}

}  // namespace facefuse::bind
