// The tape node of conv2d: kiln::conv2d_backward computes dx, dw and db in one call, each
// only when asked for (a null output pointer).
#include <pybind11/stl.h>

#include <utility>

#include "arrays.hpp"
#include "kiln/conv2d.hpp"
#include "node_args.hpp"
#include "nodes.hpp"

namespace kiln::nodes {
namespace {

constexpr const char* kFn = "conv2d_node";
using Pair = std::pair<index_t, index_t>;

// edges (x, w[, bias]); x (N, C, H, W), w (K, C/groups, R, S).
class Conv2dNode final : public Node {
 public:
  Conv2dNode(std::vector<Edge> edges, py::array x, py::array w, const Conv2dParams& p)
      : Node(std::move(edges), 1), x_(std::move(x)), w_(std::move(w)), p_(p), has_bias_(this->edges.size() == 3) {}

 private:
  std::vector<py::object> backward(std::vector<py::object>& grads) override {
    const py::array x_ref = x_, w_ref = w_;  // ours while the GIL is released (see LinearNode)
    const bool want_dx = static_cast<bool>(edges[0]), want_dw = static_cast<bool>(edges[1]);
    const bool want_db = has_bias_ && edges[2];
    py::array dy = grad_f32("Conv2dNode", grads[0]);
    require_shape("Conv2dNode", "the gradient", dy, {p_.n, p_.k, p_.out_h(), p_.out_w()});
    py::array dx = new_f32_if(want_dx, shape_of(x_ref));
    py::array dw = new_f32_if(want_dw, shape_of(w_ref));
    py::array db = new_f32_if(want_db, {p_.k});
    const float* x = bind::f32_data(x_ref);
    const float* w = bind::f32_data(w_ref);
    const float* dy_ptr = bind::f32_data(dy);
    float* dx_ptr = bind::f32_mutable_data(dx);
    float* dw_ptr = bind::f32_mutable_data(dw);
    float* db_ptr = bind::f32_mutable_data(db);
    if (dx_ptr || dw_ptr || db_ptr) {
      py::gil_scoped_release release;
      conv2d_backward(p_, x, w, dy_ptr, dx_ptr, dw_ptr, db_ptr);
    }
    std::vector<py::object> out{result(dx), result(dw)};
    if (has_bias_) out.push_back(result(db));
    return out;
  }

  void release_saved() override { x_ = w_ = null_array(); }

  py::array x_, w_;
  Conv2dParams p_;
  bool has_bias_;
};

py::object conv2d_node(py::handle edges_obj, py::handle x_obj, py::handle w_obj, Pair stride,
                       Pair padding, Pair dilation, index_t groups) {
  py::array x = saved_f32(x_obj), w = saved_f32(w_obj);
  if (!x || !w) return py::none();
  std::vector<Edge> edges = node_edges(kFn, edges_obj, {2, 3});
  bind::require_ndim(kFn, "x", x, {4});
  bind::require_ndim(kFn, "w", w, {4});
  Conv2dParams p;
  p.n = x.shape(0);
  p.c = x.shape(1);
  p.h = x.shape(2);
  p.w = x.shape(3);
  p.k = w.shape(0);
  p.r = w.shape(2);
  p.s = w.shape(3);
  std::tie(p.stride_h, p.stride_w) = stride;
  std::tie(p.pad_h, p.pad_w) = padding;
  std::tie(p.dilation_h, p.dilation_w) = dilation;
  p.groups = groups;
  if (groups < 1 || w.shape(1) * groups != p.c)
    throw py::value_error(std::string(kFn) + ": w " + bind::shape_str(w) + " and x " + bind::shape_str(x) +
                          " do not match groups=" + std::to_string(groups));
  conv2d_check(p);  // std::invalid_argument -> ValueError
  return wrap(std::make_unique<Conv2dNode>(std::move(edges), std::move(x), std::move(w), p));
}

}  // namespace

void bind_conv2d_node(py::module_& m) {
  bind_node_class<Conv2dNode>(m, "Conv2dNode", "Backward of conv2d (conv2d_node).");
  m.def("conv2d_node", &conv2d_node, py::arg("edges"), py::arg("x"), py::arg("w"), py::arg("stride"),
        py::arg("padding"), py::arg("dilation"), py::arg("groups"),
        "The tape node of conv2d(x, w, bias): edges (x, w[, bias]); x (N, C, H, W), w\n"
        "(K, C/groups, R, S); stride, padding, dilation (h, w) pairs. None when x or w is not\n"
        "float32.");
}

}  // namespace kiln::nodes
