// Rows of the column block are walked one (c, r, s) at a time and, within a row, one
// output row (oh) at a time: along ow the input column moves by stride_w, and the
// range of ow whose input column lies inside the image is worked out once per (s),
// so the inner loops are branch-free copies (or adds) between zero-filled edges.
#include "im2col.hpp"

#include <algorithm>
#include <vector>

namespace kiln::detail {
namespace {

// [lo, hi) of output positions o < out_size with 0 <= o*stride - pad + offset < in_size.
void inside_range(index_t out_size, index_t stride, index_t pad, index_t offset, index_t in_size,
                  index_t& lo, index_t& hi) {
  const index_t first = pad - offset;            // o*stride >= first
  const index_t last = in_size - 1 + pad - offset;  // o*stride <= last
  lo = first <= 0 ? 0 : (first + stride - 1) / stride;
  hi = last < 0 ? 0 : std::min(out_size, last / stride + 1);
  lo = std::min(lo, hi);
}

// Calls segment(q, oh, ow_begin, ow_end) for each run of the pixel block [p0, p0 + count)
// that lies in one output row; q is the run's first column in the block.
template <typename Segment>
void for_each_output_row(index_t out_w, index_t p0, index_t count, Segment segment) {
  index_t q = 0;
  while (q < count) {
    const index_t oh = (p0 + q) / out_w, ow_begin = (p0 + q) % out_w;
    const index_t ow_end = std::min(out_w, ow_begin + (count - q));
    segment(q, oh, ow_begin, ow_end);
    q += ow_end - ow_begin;
  }
}

// Runs of the pixel block that lie in one output row and one panel of nr pixels.
struct PanelRun {
  index_t offset;           // where pixel ow_begin goes in the panels, for row 0
  index_t oh, ow_begin, ow_end;
};

}  // namespace

void im2col_panels(const Conv2dParams& p, const float* x_group, index_t p0, index_t count,
                   index_t row0, index_t rows, int nr, float* panels) {
  const index_t out_h = p.out_h(), out_w = p.out_w(), sw = p.stride_w;
  const index_t panel_floats = rows * nr;
  // The runs depend on the block only; a block of a few hundred pixels has few runs.
  thread_local std::vector<PanelRun> runs;
  runs.clear();
  for (index_t q = 0; q < count;) {
    const index_t oh = (p0 + q) / out_w, ow = (p0 + q) % out_w;
    const index_t len = std::min({out_w - ow, count - q, nr - q % nr});
    runs.push_back({q / nr * panel_floats + q % nr, oh, ow, ow + len});
    q += len;
  }
  const index_t tail = count % nr;  // zero the last panel's padding columns
  if (tail) {
    float* last = panels + count / nr * panel_floats;
    for (index_t q = 0; q < rows; ++q) std::fill(last + q * nr + tail, last + (q + 1) * nr, 0.0f);
  }
  index_t c = row0 / (p.r * p.s), r = row0 / p.s % p.r, s = row0 % p.s;
  for (index_t q = 0; q < rows; ++q) {
    const float* x_channel = x_group + c * p.h * p.w;
    index_t oh_lo, oh_hi, ow_lo, ow_hi;
    inside_range(out_h, p.stride_h, p.pad_h, r * p.dilation_h, p.h, oh_lo, oh_hi);
    inside_range(out_w, sw, p.pad_w, s * p.dilation_w, p.w, ow_lo, ow_hi);
    const index_t shift = s * p.dilation_w - p.pad_w;  // input column = ow * sw + shift
    float* row = panels + q * nr;
    for (const PanelRun& run : runs) {
      float* __restrict dst = row + run.offset - run.ow_begin;  // dst[ow] for this run
      const index_t b = run.ow_begin, e = run.ow_end;
      if (run.oh < oh_lo || run.oh >= oh_hi) {
        for (index_t ow = b; ow < e; ++ow) dst[ow] = 0.0f;
        continue;
      }
      const index_t lo = std::clamp(ow_lo, b, e), hi = std::clamp(ow_hi, lo, e);
      const float* __restrict x_row = x_channel + (run.oh * p.stride_h - p.pad_h + r * p.dilation_h) * p.w;
      for (index_t ow = b; ow < lo; ++ow) dst[ow] = 0.0f;
      if (sw == 1) {
        for (index_t ow = lo; ow < hi; ++ow) dst[ow] = x_row[ow + shift];
      } else {
        for (index_t ow = lo; ow < hi; ++ow) dst[ow] = x_row[ow * sw + shift];
      }
      for (index_t ow = hi; ow < e; ++ow) dst[ow] = 0.0f;
    }
    if (++s == p.s) {
      s = 0;
      if (++r == p.r) {
        r = 0;
        ++c;
      }
    }
  }
}

void im2col(const Conv2dParams& p, const float* x_group, index_t p0, index_t count, float* cols) {
  const index_t channels = p.c / p.groups, out_h = p.out_h(), out_w = p.out_w();
  const index_t sw = p.stride_w;
  for (index_t c = 0; c < channels; ++c) {
    const float* x_channel = x_group + c * p.h * p.w;
    for (index_t r = 0; r < p.r; ++r) {
      index_t oh_lo, oh_hi;
      inside_range(out_h, p.stride_h, p.pad_h, r * p.dilation_h, p.h, oh_lo, oh_hi);
      for (index_t s = 0; s < p.s; ++s, cols += count) {
        index_t ow_lo, ow_hi;
        inside_range(out_w, sw, p.pad_w, s * p.dilation_w, p.w, ow_lo, ow_hi);
        const index_t shift = s * p.dilation_w - p.pad_w;  // input column = ow * sw + shift
        for_each_output_row(out_w, p0, count, [&](index_t q, index_t oh, index_t b, index_t e) {
          float* dst = cols + q;  // dst[ow - b] is the column of output pixel (oh, ow)
          if (oh < oh_lo || oh >= oh_hi) {
            std::fill(dst, dst + (e - b), 0.0f);
            return;
          }
          const index_t lo = std::clamp(ow_lo, b, e), hi = std::clamp(ow_hi, lo, e);
          const float* x_row = x_channel + (oh * p.stride_h - p.pad_h + r * p.dilation_h) * p.w;
          std::fill(dst, dst + (lo - b), 0.0f);
          if (sw == 1 && hi > lo) {
            std::copy(x_row + lo + shift, x_row + hi + shift, dst + (lo - b));
          } else {
            for (index_t ow = lo; ow < hi; ++ow) dst[ow - b] = x_row[ow * sw + shift];
          }
          std::fill(dst + (hi - b), dst + (e - b), 0.0f);
        });
      }
    }
  }
}

void col2im_add(const Conv2dParams& p, const float* cols, index_t p0, index_t count,
                float* x_group) {
  const index_t channels = p.c / p.groups, out_h = p.out_h(), out_w = p.out_w();
  const index_t sw = p.stride_w;
  for (index_t c = 0; c < channels; ++c) {
    float* x_channel = x_group + c * p.h * p.w;
    for (index_t r = 0; r < p.r; ++r) {
      index_t oh_lo, oh_hi;
      inside_range(out_h, p.stride_h, p.pad_h, r * p.dilation_h, p.h, oh_lo, oh_hi);
      for (index_t s = 0; s < p.s; ++s, cols += count) {
        index_t ow_lo, ow_hi;
        inside_range(out_w, sw, p.pad_w, s * p.dilation_w, p.w, ow_lo, ow_hi);
        const index_t shift = s * p.dilation_w - p.pad_w;
        for_each_output_row(out_w, p0, count, [&](index_t q, index_t oh, index_t b, index_t e) {
          if (oh < oh_lo || oh >= oh_hi) return;
          const float* src = cols + q;  // src[ow - b] belongs to output pixel (oh, ow)
          const index_t lo = std::clamp(ow_lo, b, e), hi = std::clamp(ow_hi, lo, e);
          float* x_row = x_channel + (oh * p.stride_h - p.pad_h + r * p.dilation_h) * p.w;
          for (index_t ow = lo; ow < hi; ++ow) x_row[ow * sw + shift] += src[ow - b];
        });
      }
    }
  }
}

}  // namespace kiln::detail
