// The tape nodes of max and average pooling. Max pooling's backward scatters the gradient
// to the forward's argmax indices (it needs no float array, only those indices); average
// pooling's spreads it over each window (it needs only the geometry).
#include <pybind11/stl.h>

#include <utility>

#include "arrays.hpp"
#include "kiln/pool2d.hpp"
#include "node_args.hpp"
#include "nodes.hpp"

namespace kiln::nodes {
namespace {

using Pair = std::pair<index_t, index_t>;

std::vector<index_t> image_shape(const char* fn, py::handle obj) {
  std::vector<index_t> shape = shape_arg(fn, "input_shape", obj);
  if (shape.size() != 4)
    throw py::value_error(std::string(fn) + ": input_shape must be (N, C, H, W), got " + bind::shape_str(shape));
  return shape;
}

// edges (x,); indices (N, C, OH, OW) int64, each a flat position in its H*W plane.
class MaxPool2dNode final : public Node {
 public:
  MaxPool2dNode(std::vector<Edge> edges, py::array indices, std::vector<index_t> input_shape)
      : Node(std::move(edges), 1), indices_(std::move(indices)), input_shape_(std::move(input_shape)) {}

 private:
  std::vector<py::object> backward(std::vector<py::object>& grads) override {
    std::vector<py::object> out(1);
    if (!edges[0]) return out;
    const py::array indices = indices_;  // ours while the GIL is released (see LinearNode)
    py::array dy = grad_f32("MaxPool2dNode", grads[0]);
    require_shape("MaxPool2dNode", "the gradient", dy, shape_of(indices));
    py::array dx = py::array_t<float>(input_shape_);
    const index_t planes = input_shape_[0] * input_shape_[1];
    const index_t in_size = input_shape_[2] * input_shape_[3];
    const index_t out_size = indices.shape(2) * indices.shape(3);
    const float* dy_ptr = bind::f32_data(dy);
    const auto* idx = static_cast<const std::int64_t*>(indices.data());
    float* dx_ptr = bind::f32_mutable_data(dx);
    {
      py::gil_scoped_release release;
      max_pool2d_backward_scatter(planes, in_size, out_size, dy_ptr, idx, dx_ptr);  // checks indices
    }
    out[0] = std::move(dx);
    return out;
  }

  void release_saved() override { indices_ = null_array(); }

  py::array indices_;
  std::vector<index_t> input_shape_;
};

py::object max_pool2d_node(py::handle edges_obj, py::handle indices_obj, py::handle input_shape_obj) {
  constexpr const char* fn = "max_pool2d_node";
  py::array indices = saved_i64(indices_obj);
  if (!indices) return py::none();
  std::vector<Edge> edges = node_edges(fn, edges_obj, {1});
  std::vector<index_t> input_shape = image_shape(fn, input_shape_obj);
  bind::require_ndim(fn, "indices", indices, {4});
  if (indices.shape(0) != input_shape[0] || indices.shape(1) != input_shape[1])
    throw py::value_error(std::string(fn) + ": indices " + bind::shape_str(indices) + " and input_shape " +
                          bind::shape_str(input_shape) + " differ in (N, C)");
  return wrap(std::make_unique<MaxPool2dNode>(std::move(edges), std::move(indices), std::move(input_shape)));
}

// edges (x,); the forward's geometry.
class AvgPool2dNode final : public Node {
 public:
  AvgPool2dNode(std::vector<Edge> edges, const Pool2dParams& p, bool count_include_pad,
                index_t divisor_override)
      : Node(std::move(edges), 1), p_(p), count_include_pad_(count_include_pad),
        divisor_override_(divisor_override) {}

 private:
  std::vector<py::object> backward(std::vector<py::object>& grads) override {
    std::vector<py::object> out(1);
    if (!edges[0]) return out;
    py::array dy = grad_f32("AvgPool2dNode", grads[0]);
    require_shape("AvgPool2dNode", "the gradient", dy, {p_.n, p_.c, p_.out_h(), p_.out_w()});
    py::array dx = py::array_t<float>(std::vector<index_t>{p_.n, p_.c, p_.h, p_.w});
    const float* dy_ptr = bind::f32_data(dy);
    float* dx_ptr = bind::f32_mutable_data(dx);
    {
      py::gil_scoped_release release;
      avg_pool2d_backward(p_, dy_ptr, dx_ptr, count_include_pad_, divisor_override_);
    }
    out[0] = std::move(dx);
    return out;
  }

  Pool2dParams p_;
  bool count_include_pad_;
  index_t divisor_override_;
};

py::object avg_pool2d_node(py::handle edges_obj, py::handle input_shape_obj, Pair kernel, Pair stride,
                           Pair padding, bool ceil_mode, bool count_include_pad, index_t divisor_override) {
  constexpr const char* fn = "avg_pool2d_node";
  std::vector<Edge> edges = node_edges(fn, edges_obj, {1});
  std::vector<index_t> shape = image_shape(fn, input_shape_obj);
  Pool2dParams p;
  p.n = shape[0];
  p.c = shape[1];
  p.h = shape[2];
  p.w = shape[3];
  std::tie(p.kernel_h, p.kernel_w) = kernel;
  std::tie(p.stride_h, p.stride_w) = stride;
  std::tie(p.pad_h, p.pad_w) = padding;
  p.ceil_mode = ceil_mode;
  avg_pool2d_check(p);  // std::invalid_argument -> ValueError
  return wrap(std::make_unique<AvgPool2dNode>(std::move(edges), p, count_include_pad, divisor_override));
}

}  // namespace

void bind_pool2d_nodes(py::module_& m) {
  bind_node_class<MaxPool2dNode>(m, "MaxPool2dNode", "Backward of max_pool2d (max_pool2d_node).");
  bind_node_class<AvgPool2dNode>(m, "AvgPool2dNode", "Backward of avg_pool2d (avg_pool2d_node).");
  m.def("max_pool2d_node", &max_pool2d_node, py::arg("edges"), py::arg("indices"), py::arg("input_shape"),
        "The tape node of max_pool2d: edges (x,); indices (N, C, OH, OW) int64, the forward's\n"
        "argmax positions h * W + w in each plane; input_shape (N, C, H, W). None when indices\n"
        "are not int64. The gradient it returns is float32.");
  m.def("avg_pool2d_node", &avg_pool2d_node, py::arg("edges"), py::arg("input_shape"), py::arg("kernel"),
        py::arg("stride"), py::arg("padding"), py::arg("ceil_mode"), py::arg("count_include_pad"),
        py::arg("divisor_override"),
        "The tape node of avg_pool2d: edges (x,); input_shape (N, C, H, W); kernel, stride,\n"
        "padding (h, w) pairs; divisor_override 0 for none. The gradient it returns is float32.");
}

}  // namespace kiln::nodes
