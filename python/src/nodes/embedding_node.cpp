// The tape node of an embedding lookup: the weight's gradient is a scatter-add of the
// output's gradient rows by the indices (kiln::embedding_backward, deterministic).
#include "arrays.hpp"
#include "kiln/embedding.hpp"
#include "node_args.hpp"
#include "nodes.hpp"

namespace kiln::nodes {
namespace {

constexpr const char* kFn = "embedding_node";

// edges (weight,); indices int64 of any shape; the gradient (*indices.shape, D) -> (V, D).
class EmbeddingNode final : public Node {
 public:
  EmbeddingNode(std::vector<Edge> edges, py::array indices, index_t num_embeddings, std::int64_t padding_idx)
      : Node(std::move(edges), 1), indices_(std::move(indices)), num_embeddings_(num_embeddings),
        padding_idx_(padding_idx) {}

 private:
  std::vector<py::object> backward(std::vector<py::object>& grads) override {
    std::vector<py::object> out(1);
    if (!edges[0]) return out;
    const py::array indices = indices_;  // ours while the GIL is released (see LinearNode)
    py::array dy = grad_f32("EmbeddingNode", grads[0]);
    std::vector<index_t> want = shape_of(indices);
    want.push_back(-1);
    if (dy.ndim() != static_cast<py::ssize_t>(want.size()))
      throw py::value_error("EmbeddingNode: a gradient of shape " + bind::shape_str(dy) +
                            " for indices of shape " + bind::shape_str(indices));
    require_shape("EmbeddingNode", "the gradient", dy, want);
    const index_t dim = dy.shape(dy.ndim() - 1);
    py::array dw = py::array_t<float>(std::vector<index_t>{num_embeddings_, dim});
    const index_t n = static_cast<index_t>(indices.size());
    const auto* idx = static_cast<const std::int64_t*>(indices.data());
    const float* dy_ptr = bind::f32_data(dy);
    float* dw_ptr = bind::f32_mutable_data(dw);
    {
      py::gil_scoped_release release;
      embedding_backward(n, idx, dy_ptr, num_embeddings_, dim, padding_idx_, dw_ptr);  // checks indices
    }
    out[0] = std::move(dw);
    return out;
  }

  void release_saved() override { indices_ = null_array(); }

  py::array indices_;
  index_t num_embeddings_;
  std::int64_t padding_idx_;
};

py::object embedding_node(py::handle edges_obj, py::handle indices_obj, index_t num_embeddings,
                          std::int64_t padding_idx) {
  py::array indices = saved_i64(indices_obj);
  if (!indices) return py::none();
  std::vector<Edge> edges = node_edges(kFn, edges_obj, {1});
  if (num_embeddings < 0)
    throw py::value_error(std::string(kFn) + ": num_embeddings must be >= 0, got " + std::to_string(num_embeddings));
  if (padding_idx < -1 || padding_idx >= num_embeddings)
    throw py::value_error(std::string(kFn) + ": padding_idx must be -1 (none) or in [0, " +
                          std::to_string(num_embeddings) + "), got " + std::to_string(padding_idx));
  return wrap(std::make_unique<EmbeddingNode>(std::move(edges), std::move(indices), num_embeddings, padding_idx));
}

}  // namespace

void bind_embedding_node(py::module_& m) {
  bind_node_class<EmbeddingNode>(m, "EmbeddingNode", "Backward of embedding (embedding_node).");
  m.def("embedding_node", &embedding_node, py::arg("edges"), py::arg("indices"), py::arg("num_embeddings"),
        py::arg("padding_idx"),
        "The tape node of weight[indices]: edges (weight,); indices int64 of any shape, each in\n"
        "[0, num_embeddings); padding_idx -1 for none, else a row whose gradient stays zero.\n"
        "None when indices are not int64. The gradient it returns is float32.");
}

}  // namespace kiln::nodes
