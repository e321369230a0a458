// Internal to the bindings: the argument checks the recurrent kernels' bindings share.
#pragma once

#include <string>
#include <vector>

#include "arrays.hpp"

namespace kiln::bind {

// The arrays of one recurrent kernel call (LSTM, GRU), collected as they are checked, so
// that every output can be checked against every other array for shared memory before the
// kernel runs.
// All arrays are float32 and C-contiguous; None stands for an absent optional one.
class RecurrentArgs {
 public:
  explicit RecurrentArgs(const char* fn) : fn_(fn) {}

  py::array input(const char* name, py::handle obj, const std::vector<index_t>& shape) {
    py::array a = float32_array(fn_, name, obj);
    require_shape(fn_, name, a, shape);
    require_c_contiguous(fn_, name, a);
    inputs_.push_back({name, a});
    return a;
  }

  py::array optional_input(const char* name, py::handle obj, const std::vector<index_t>& shape) {
    return obj.is_none() ? optional_float32_array(fn_, name, obj) : input(name, obj, shape);
  }

  py::array output(const char* name, py::handle obj, const std::vector<index_t>& shape) {
    py::array a = float32_array(fn_, name, obj);
    require_shape(fn_, name, a, shape);
    require_c_contiguous(fn_, name, a);
    require_writeable(fn_, name, a);
    outputs_.push_back({name, a});
    return a;
  }

  py::array optional_output(const char* name, py::handle obj, const std::vector<index_t>& shape) {
    return obj.is_none() ? optional_float32_array(fn_, name, obj) : output(name, obj, shape);
  }

  void require_disjoint_outputs() const {
    for (std::size_t o = 0; o < outputs_.size(); ++o) {
      const Named& out = outputs_[o];
      for (const Named& in : inputs_)
        require_no_overlap(fn_, out.name, out.array, {{in.name, &in.array}});
      for (std::size_t other = o + 1; other < outputs_.size(); ++other)
        require_no_overlap(fn_, out.name, out.array,
                           {{outputs_[other].name, &outputs_[other].array}});
    }
  }

  // hidden_size from w_hh, which must be (gates * hidden_size, hidden_size): its columns.
  index_t hidden_size(py::handle w_hh_obj) const {
    py::array w_hh = float32_array(fn_, "w_hh", w_hh_obj);
    require_ndim(fn_, "w_hh", w_hh, {2});
    const index_t H = w_hh.shape(1);
    if (H > kMaxElements) {
      throw py::value_error(std::string(fn_) + ": w_hh " + shape_str(w_hh) +
                            " has a hidden size beyond kiln's limit of " +
                            std::to_string(kMaxElements) + " elements per operand");
    }
    return H;
  }

  // The leading sizes of x, which must be `ndim`-D.
  std::vector<index_t> x_shape(py::handle x_obj, int ndim) const {
    py::array x = float32_array(fn_, "x", x_obj);
    require_ndim(fn_, "x", x, {ndim});
    return std::vector<index_t>(x.shape(), x.shape() + ndim);
  }

 private:
  struct Named {
    const char* name;
    py::array array;
  };
  const char* fn_;
  std::vector<Named> inputs_, outputs_;
};

}  // namespace kiln::bind
