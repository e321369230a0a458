// kiln._C: scaled-dot-product attention, forward and backward (kiln/attention.hpp).
// Arrays are (BH, T, D): the Python backend folds batch and heads.
#include <string>
#include <vector>

#include "arrays.hpp"
#include "bindings.hpp"
#include "kiln/attention.hpp"

namespace kiln::bind {
namespace {

constexpr const char* kForward = "attention_forward";
constexpr const char* kBackward = "attention_backward";

py::array input(const char* fn, const char* arg, py::handle obj, const std::vector<index_t>& shape) {
  py::array a = float32_array(fn, arg, obj);
  require_ndim(fn, arg, a, {static_cast<int>(shape.size())});
  require_shape(fn, arg, a, shape);
  require_c_contiguous(fn, arg, a);
  return a;
}

py::array output(const char* fn, const char* arg, py::handle obj, const std::vector<index_t>& shape) {
  py::array a = input(fn, arg, obj, shape);
  require_writeable(fn, arg, a);
  return a;
}

AttentionParams params(const char* fn, py::handle q_obj, py::handle k_obj, py::handle v_obj, bool causal,
                       float scale, py::array& q, py::array& k, py::array& v) {
  q = float32_array(fn, "q", q_obj);
  require_ndim(fn, "q", q, {3});
  AttentionParams p;
  p.batch_heads = q.shape(0);
  p.tq = q.shape(1);
  p.d = q.shape(2);
  k = float32_array(fn, "k", k_obj);
  require_ndim(fn, "k", k, {3});
  p.tk = k.shape(1);
  v = float32_array(fn, "v", v_obj);
  require_ndim(fn, "v", v, {3});
  p.dv = v.shape(2);
  p.causal = causal;
  p.scale = scale;
  q = input(fn, "q", q, {p.batch_heads, p.tq, p.d});
  k = input(fn, "k", k, {p.batch_heads, p.tk, p.d});
  v = input(fn, "v", v, {p.batch_heads, p.tk, p.dv});
  attention_check(p);
  return p;
}

void forward_binding(py::handle q_obj, py::handle k_obj, py::handle v_obj, py::handle out_obj,
                     py::handle lse_obj, bool causal, float scale) {
  py::array q, k, v;
  const AttentionParams p = params(kForward, q_obj, k_obj, v_obj, causal, scale, q, k, v);
  py::array out = output(kForward, "out", out_obj, {p.batch_heads, p.tq, p.dv});
  py::array lse = output(kForward, "logsumexp", lse_obj, {p.batch_heads, p.tq});
  require_no_overlap(kForward, "out", out, {{"q", &q}, {"k", &k}, {"v", &v}, {"logsumexp", &lse}});
  require_no_overlap(kForward, "logsumexp", lse, {{"q", &q}, {"k", &k}, {"v", &v}});
  const float *qp = f32_data(q), *kp = f32_data(k), *vp = f32_data(v);
  float *op = f32_mutable_data(out), *lp = f32_mutable_data(lse);
  py::gil_scoped_release release;
  attention_forward(p, qp, kp, vp, op, lp);
}

void backward_binding(py::handle dout_obj, py::handle q_obj, py::handle k_obj, py::handle v_obj,
                      py::handle out_obj, py::handle lse_obj, py::handle dq_obj, py::handle dk_obj,
                      py::handle dv_obj, bool causal, float scale) {
  py::array q, k, v;
  const AttentionParams p = params(kBackward, q_obj, k_obj, v_obj, causal, scale, q, k, v);
  py::array dout = input(kBackward, "dout", dout_obj, {p.batch_heads, p.tq, p.dv});
  py::array out = input(kBackward, "out", out_obj, {p.batch_heads, p.tq, p.dv});
  py::array lse = input(kBackward, "logsumexp", lse_obj, {p.batch_heads, p.tq});
  py::array dq = output(kBackward, "dq", dq_obj, {p.batch_heads, p.tq, p.d});
  py::array dk = output(kBackward, "dk", dk_obj, {p.batch_heads, p.tk, p.d});
  py::array dv = output(kBackward, "dv", dv_obj, {p.batch_heads, p.tk, p.dv});
  for (auto [name, a] : {std::pair<const char*, py::array*>{"dq", &dq}, {"dk", &dk}, {"dv", &dv}})
    require_no_overlap(kBackward, name, *a,
                       {{"dout", &dout}, {"q", &q}, {"k", &k}, {"v", &v}, {"out", &out}, {"logsumexp", &lse}});
  require_no_overlap(kBackward, "dq", dq, {{"dk", &dk}, {"dv", &dv}});
  require_no_overlap(kBackward, "dk", dk, {{"dv", &dv}});
  const float *dop = f32_data(dout), *qp = f32_data(q), *kp = f32_data(k), *vp = f32_data(v),
              *op = f32_data(out), *lp = f32_data(lse);
  float *dqp = f32_mutable_data(dq), *dkp = f32_mutable_data(dk), *dvp = f32_mutable_data(dv);
  py::gil_scoped_release release;
  attention_backward(p, dop, qp, kp, vp, op, lp, dqp, dkp, dvp);
}

}  // namespace

void bind_attention(py::module_& m) {
  m.def("attention_forward", &forward_binding, py::arg("q"), py::arg("k"), py::arg("v"), py::arg("out"),
        py::arg("logsumexp"), py::arg("causal"), py::arg("scale"),
        "out (BH, Tq, Dv), logsumexp (BH, Tq) = scaled-dot-product attention of q (BH, Tq, D), "
        "k (BH, Tk, D), v (BH, Tk, Dv), written in place.");
  m.def("attention_backward", &backward_binding, py::arg("dout"), py::arg("q"), py::arg("k"), py::arg("v"),
        py::arg("out"), py::arg("logsumexp"), py::arg("dq"), py::arg("dk"), py::arg("dv"), py::arg("causal"),
        py::arg("scale"), "dq, dk, dv (written in place) = the gradient of attention_forward given dout.");
  m.def("attention_workspace_floats",
        [](index_t batch_heads, index_t tq, index_t tk, index_t d, index_t dv, bool causal) {
          AttentionParams p{batch_heads, tq, tk, d, dv, causal, 1.0f};
          attention_check(p);
          return attention_workspace_floats(p);
        },
        py::arg("batch_heads"), py::arg("tq"), py::arg("tk"), py::arg("d"), py::arg("dv"), py::arg("causal"),
        "Floats of scratch one thread of attention_forward/backward uses (independent of Tq and Tk).");
}

}  // namespace kiln::bind
