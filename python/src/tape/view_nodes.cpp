// The backward of the view operations, here rather than as Python closures: reshape (and
// view, flatten, squeeze, unsqueeze) and permute (transpose) are everywhere between layers,
// and their backward is one NumPy call, cheaper made in C++ than through a closure.
// Arrays of other backends go through the reshape and transpose hooks (set_array_hooks).
#include <string>
#include <vector>

#include "tape_internal.hpp"

namespace kiln::tape {
namespace {

std::vector<py::ssize_t> int_list(const char* fn, const char* arg, py::handle obj) {
  if (!PySequence_Check(obj.ptr()) || PyUnicode_Check(obj.ptr()))
    throw py::type_error(std::string(fn) + ": " + arg + " must be a sequence of ints");
  std::vector<py::ssize_t> out;
  for (py::handle v : py::reinterpret_borrow<py::sequence>(obj)) {
    if (!PyLong_Check(v.ptr()) && !PyIndex_Check(v.ptr()))
      throw py::type_error(std::string(fn) + ": " + arg + " must hold ints, got " + Py_TYPE(v.ptr())->tp_name);
    out.push_back(v.cast<py::ssize_t>());
  }
  return out;
}

std::vector<Edge> one_edge(const char* fn, py::handle edges) {
  std::vector<Edge> e = edges_from(edges, fn);
  if (e.size() != 1)
    throw py::value_error(std::string(fn) + ": one edge (the input), got " + std::to_string(e.size()));
  return e;
}

// d input = d output reshaped to the input's shape.
class ReshapeBackward final : public Node {
 public:
  ReshapeBackward(std::vector<Edge> edges, std::vector<py::ssize_t> input_shape)
      : Node(std::move(edges), 1), input_shape_(std::move(input_shape)) {}

 private:
  std::vector<py::object> backward(std::vector<py::object>& grads) override {
    std::vector<py::object> out(1);
    if (edges[0]) out[0] = grad_reshape(grads[0], input_shape_);
    return out;
  }
  std::vector<py::ssize_t> input_shape_;
};

// d input = d output transposed by the inverse of the forward's permutation.
class PermuteBackward final : public Node {
 public:
  PermuteBackward(std::vector<Edge> edges, std::vector<py::ssize_t> inverse_axes)
      : Node(std::move(edges), 1), inverse_axes_(std::move(inverse_axes)) {}

 private:
  std::vector<py::object> backward(std::vector<py::object>& grads) override {
    std::vector<py::object> out(1);
    if (edges[0]) out[0] = grad_transpose(grads[0], inverse_axes_);
    return out;
  }
  std::vector<py::ssize_t> inverse_axes_;
};

}  // namespace

void bind_view_nodes(py::module_& m) {
  py::class_<ReshapeBackward, Node>(m, "ReshapeBackward", py::is_final())
      .def(py::init([](py::handle edges, py::handle input_shape) {
             constexpr const char* fn = "ReshapeBackward";
             std::vector<py::ssize_t> shape = int_list(fn, "input_shape", input_shape);
             for (py::ssize_t d : shape)
               if (d < 0) throw py::value_error(std::string(fn) + ": input_shape has a negative size");
             return std::make_unique<ReshapeBackward>(one_edge(fn, edges), std::move(shape));
           }),
           py::arg("edges"), py::arg("input_shape"),
           "Backward of a reshape (view, flatten, squeeze, unsqueeze): the gradient reshaped\n"
           "to input_shape.");
  py::class_<PermuteBackward, Node>(m, "PermuteBackward", py::is_final())
      .def(py::init([](py::handle edges, py::handle inverse_axes) {
             constexpr const char* fn = "PermuteBackward";
             std::vector<py::ssize_t> axes = int_list(fn, "inverse_axes", inverse_axes);
             std::vector<bool> used(axes.size(), false);
             for (py::ssize_t a : axes) {
               if (a < 0 || a >= static_cast<py::ssize_t>(axes.size()) || used[static_cast<std::size_t>(a)])
                 throw py::value_error(std::string(fn) + ": inverse_axes must be a permutation of 0.." +
                                       std::to_string(axes.size()) + "-1");
               used[static_cast<std::size_t>(a)] = true;
             }
             return std::make_unique<PermuteBackward>(one_edge(fn, edges), std::move(axes));
           }),
           py::arg("edges"), py::arg("inverse_axes"),
           "Backward of a permute (transpose): the gradient transposed by inverse_axes.");
}

}  // namespace kiln::tape
