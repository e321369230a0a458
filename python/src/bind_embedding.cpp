#include "arrays.hpp"
#include "bindings.hpp"
#include "kiln/embedding.hpp"

namespace kiln::bind {
namespace {

std::vector<index_t> shape_of(const py::array& a) {
  return std::vector<index_t>(a.shape(), a.shape() + a.ndim());
}

// indices: int64, C-contiguous, any shape.
py::array indices_arg(const char* fn, py::handle obj) {
  py::array indices = int64_array(fn, "indices", obj);
  require_c_contiguous(fn, "indices", indices);
  return indices;
}

// A float32 C-contiguous array of *indices.shape + (dim,), dim free when < 0.
py::array rows_arg(const char* fn, const char* arg, py::handle obj, const py::array& indices,
                   index_t dim) {
  py::array a = float32_array(fn, arg, obj);
  std::vector<index_t> want = shape_of(indices);
  want.push_back(dim);
  require_shape(fn, arg, a, want);
  require_c_contiguous(fn, arg, a);
  return a;
}

void embedding_forward_binding(py::handle indices_obj, py::handle weight_obj, py::handle out_obj) {
  constexpr const char* kFn = "embedding";
  py::array indices = indices_arg(kFn, indices_obj);
  py::array weight = float32_array(kFn, "weight", weight_obj);
  require_ndim(kFn, "weight", weight, {2});
  require_c_contiguous(kFn, "weight", weight);
  const index_t num_embeddings = weight.shape(0), dim = weight.shape(1);
  py::array out = rows_arg(kFn, "out", out_obj, indices, dim);
  require_writeable(kFn, "out", out);
  require_no_overlap(kFn, "out", out, {{"indices", &indices}, {"weight", &weight}});
  const index_t n = indices.size();
  const auto* idx = static_cast<const std::int64_t*>(indices.data());
  const float* w = f32_data(weight);
  float* o = f32_mutable_data(out);
  py::gil_scoped_release release;
  embedding_forward(n, idx, num_embeddings, dim, w, o);
}

void embedding_backward_binding(py::handle indices_obj, py::handle grad_out_obj,
                                std::int64_t padding_idx, py::handle grad_weight_obj) {
  constexpr const char* kFn = "embedding_backward";
  py::array indices = indices_arg(kFn, indices_obj);
  py::array grad_weight = float32_array(kFn, "grad_weight", grad_weight_obj);
  require_ndim(kFn, "grad_weight", grad_weight, {2});
  require_c_contiguous(kFn, "grad_weight", grad_weight);
  require_writeable(kFn, "grad_weight", grad_weight);
  const index_t num_embeddings = grad_weight.shape(0), dim = grad_weight.shape(1);
  py::array grad_out = rows_arg(kFn, "grad_out", grad_out_obj, indices, dim);
  require_no_overlap(kFn, "grad_weight", grad_weight,
                     {{"indices", &indices}, {"grad_out", &grad_out}});
  const index_t n = indices.size();
  const auto* idx = static_cast<const std::int64_t*>(indices.data());
  const float* g = f32_data(grad_out);
  float* gw = f32_mutable_data(grad_weight);
  py::gil_scoped_release release;
  embedding_backward(n, idx, g, num_embeddings, dim, padding_idx, gw);
}

}  // namespace

void bind_embedding(py::module_& m) {
  m.def("embedding", &embedding_forward_binding, py::arg("indices"), py::arg("weight"),
        py::arg("out"),
        "out[...] = weight[indices]: indices int64 (any shape), weight (V, D), out (*indices.shape, D).");
  m.def("embedding_backward", &embedding_backward_binding, py::arg("indices"),
        py::arg("grad_out"), py::arg("padding_idx"), py::arg("grad_weight"),
        "grad_weight (V, D) = scatter-add of grad_out (*indices.shape, D) by indices;\n"
        "the row padding_idx (-1: none) stays zero. Overwrites grad_weight.");
}

}  // namespace kiln::bind
