// Leaves and the optimizer's gradient buffer.
//
// A Leaf is the node of a tensor that requires grad and was not computed: the walk ends
// there and the gradient accumulates into leaf.grad. An optimizer keeps the gradients of a
// parameter group in one flat buffer (one adam_step over all of it); a GradBuffer names,
// per leaf, the slice of that buffer (a view) its gradient goes to, so the tape writes the
// gradient there directly instead of leaving it in a fresh array for Python to copy.
//
// A leaf may carry one hook, called with no arguments once its gradient for this walk has
// been accumulated (the walker runs a node once per walk, with the sum of what reached it,
// so the hook sees the final gradient of this backward). Data-parallel training
// (kiln.distributed) starts a bucket's allreduce from it while the walk goes on.
#include <cstring>
#include <string>
#include <unordered_set>
#include <vector>

#include "tape_internal.hpp"

namespace kiln::tape {
namespace {

class GradBuffer;

PyTypeObject* g_leaf_type = nullptr;

class Leaf final : public Node {
 public:
  Leaf() : Node({}, 1, /*leaf=*/true) {}

  py::object grad;               // null: None
  py::object view;               // the slice of owner's buffer (an ndarray or a device array); null without an owner
  GradBuffer* owner = nullptr;   // cleared by the owner when it lets go
  py::object hook;               // null: None; a callable run after each accumulation

  int traverse(visitproc visit, void* arg) override {
    Py_VISIT(hook.ptr());
    return Node::traverse(visit, arg);
  }

 private:
  // d loss / d leaf arrives: into the view, into grad, or as a copy (never g itself, which
  // the node that made it may still hold).
  std::vector<py::object> backward(std::vector<py::object>& grads) override {
    py::object& g = grads[0];
    if (view && !grad) {
      py::object into = view;  // ours for the copy, even if a hook lets the buffer go meanwhile
      grad_copy_into(into, g, "Leaf");
      grad = std::move(into);
    } else if (grad) {
      py::object into = grad;
      grad_iadd(into, g);
    } else {
      grad = grad_copy(g);
    }
    if (hook) {
      py::object fn = hook;  // ours for the call, even if the hook replaces itself
      InPython timing;
      fn();
    }
    return {};
  }
};

Leaf* leaf_of(py::handle obj) {
  return Py_TYPE(obj.ptr()) == g_leaf_type ? static_cast<Leaf*>(node_of(obj.ptr())) : nullptr;
}

class GradBuffer {
 public:
  GradBuffer(py::handle leaves, py::handle views) {
    constexpr const char* fn = "GradBuffer";
    if (!PySequence_Check(leaves.ptr()) || !PySequence_Check(views.ptr()))
      throw py::type_error("GradBuffer: leaves and views must be sequences");
    py::sequence ls = py::reinterpret_borrow<py::sequence>(leaves);
    py::sequence vs = py::reinterpret_borrow<py::sequence>(views);
    if (ls.size() != vs.size())
      throw py::value_error("GradBuffer: " + std::to_string(ls.size()) + " leaves but " +
                            std::to_string(vs.size()) + " views");
    std::unordered_set<Leaf*> seen;
    for (std::size_t i = 0; i < ls.size(); ++i) {
      py::object obj = ls[i];
      Leaf* leaf = leaf_of(obj);
      if (!leaf)
        throw py::type_error(std::string(fn) + ": leaves[" + std::to_string(i) + "] must be a Leaf, got " +
                             Py_TYPE(obj.ptr())->tp_name);
      if (!seen.insert(leaf).second)
        throw py::value_error(std::string(fn) + ": leaves[" + std::to_string(i) + "] appears twice");
      py::object view = vs[i];  // a device array (any type but an ndarray) is its backend's to check
      if (py::isinstance<py::array>(view)) {
        py::array a = py::reinterpret_borrow<py::array>(view);
        if (!(a.flags() & py::array::c_style) || !a.writeable())
          throw py::value_error(std::string(fn) + ": views[" + std::to_string(i) +
                                "] must be writeable and C-contiguous");
      }
      // A gradient sitting in the old owner's view moves to the new view (below): check first.
      if (leaf->owner && leaf->grad.is(leaf->view) && py::isinstance<py::array>(view) &&
          py::isinstance<py::array>(leaf->view) &&
          !same_shape(py::reinterpret_borrow<py::array>(view), py::reinterpret_borrow<py::array>(leaf->view)))
        throw py::value_error(std::string(fn) + ": views[" + std::to_string(i) + "] has shape " +
                              shape_text(py::reinterpret_borrow<py::array>(view)) +
                              " but the leaf's gradient has shape " +
                              shape_text(py::reinterpret_borrow<py::array>(leaf->view)));
      leaf_objects_.push_back(std::move(obj));
      leaves_.push_back(leaf);
      views_.push_back(std::move(view));
    }
    // Take the leaves over; their old buffer's memory is not written again.
    for (std::size_t i = 0; i < leaves_.size(); ++i) {
      Leaf* leaf = leaves_[i];
      if (leaf->owner && leaf->grad.is(leaf->view)) {
        grad_copy_into(views_[i], leaf->grad, fn);
        leaf->grad = views_[i];
      }
      leaf->owner = this;
      leaf->view = views_[i];
    }
  }

  ~GradBuffer() { release(); }
  GradBuffer(const GradBuffer&) = delete;
  GradBuffer& operator=(const GradBuffer&) = delete;

  // None when every leaf (still ours) has its gradient in its view, else the indices of
  // those that have one. A gradient set by hand elsewhere is copied into the view first.
  py::object collect() {
    bool all = true;
    for (std::size_t i = 0; i < leaves_.size(); ++i) {
      Leaf* leaf = leaves_[i];
      if (leaf->owner != this || !leaf->grad) {
        all = false;
        continue;
      }
      if (!leaf->grad.is(views_[i])) {
        grad_copy_into(views_[i], leaf->grad, "GradBuffer.collect");
        leaf->grad = views_[i];
      }
    }
    if (all) return py::none();
    py::list have;
    for (std::size_t i = 0; i < leaves_.size(); ++i)
      if (leaves_[i]->owner == this && leaves_[i]->grad) have.append(py::int_(i));
    return std::move(have);
  }

  void clear() {
    for (Leaf* leaf : leaves_)
      if (leaf->owner == this) leaf->grad = py::object();
  }

  void zero() {
    for (std::size_t i = 0; i < leaves_.size(); ++i) {
      Leaf* leaf = leaves_[i];
      if (leaf->owner != this) continue;
      if (py::isinstance<py::array>(views_[i])) {
        py::array a = py::reinterpret_borrow<py::array>(views_[i]);
        std::memset(a.mutable_data(), 0, static_cast<std::size_t>(a.nbytes()));
      } else {
        grad_copy_into(views_[i], py::int_(0), "GradBuffer.zero");
      }
      leaf->grad = views_[i];
    }
  }

  void release() {
    for (Leaf* leaf : leaves_) {
      if (leaf->owner != this) continue;
      leaf->owner = nullptr;
      leaf->view = py::object();
    }
  }

 private:
  static bool same_shape(const py::array& a, const py::array& b) {
    if (a.ndim() != b.ndim()) return false;
    for (py::ssize_t d = 0; d < a.ndim(); ++d)
      if (a.shape(d) != b.shape(d)) return false;
    return true;
  }
  static std::string shape_text(const py::array& a) {
    std::string s = "(";
    for (py::ssize_t d = 0; d < a.ndim(); ++d) s += (d ? ", " : "") + std::to_string(a.shape(d));
    return s + (a.ndim() == 1 ? ",)" : ")");
  }

  std::vector<py::object> leaf_objects_;  // keep the leaves alive (leaves_ point into them)
  std::vector<Leaf*> leaves_;
  std::vector<py::object> views_;
};

}  // namespace

void bind_leaf(py::module_& m) {
  py::class_<Leaf, Node> leaf(m, "Leaf", py::is_final(),
                              "A tensor that requires grad and was not computed: its gradient\n"
                              "accumulates in .grad (into its GradBuffer view when it has one).");
  leaf.def(py::init<>())
      .def_property(
          "grad", [](const Leaf& l) { return l.grad ? l.grad : py::none(); },
          [](Leaf& l, py::object g) { l.grad = g.is_none() ? py::object() : std::move(g); },
          "d loss / d leaf so far, or None.")
      .def_property_readonly(
          "destination", [](const Leaf& l) { return l.view ? l.view : py::none(); },
          "The GradBuffer view this leaf's gradient is written into, or None: a kernel may\n"
          "write a first gradient there itself (the tape then copies nothing).")
      .def_property(
          "hook", [](const Leaf& l) { return l.hook ? l.hook : py::none(); },
          [](Leaf& l, py::object fn) {
            if (!fn.is_none() && !PyCallable_Check(fn.ptr()))
              throw py::type_error(std::string("Leaf.hook must be callable or None, got ") +
                                   Py_TYPE(fn.ptr())->tp_name);
            l.hook = fn.is_none() ? py::object() : std::move(fn);
          },
          "None, or a callable run with no arguments each time a backward has accumulated this\n"
          "leaf's gradient (once per backward: .grad then holds this backward's sum). What it\n"
          "raises ends the backward.");
  g_leaf_type = reinterpret_cast<PyTypeObject*>(leaf.ptr());

  py::class_<GradBuffer>(m, "GradBuffer", py::is_final(),
                         "The optimizer's flat gradient buffer: views[i] (a writeable C-contiguous\n"
                         "slice) receives leaves[i]'s gradient from now on. A newer buffer over a\n"
                         "leaf takes it over; a leaf taken over counts here as having no gradient.")
      .def(py::init<py::handle, py::handle>(), py::arg("leaves"), py::arg("views"))
      .def("collect", &GradBuffer::collect,
           "None when every leaf has its gradient in its view (a gradient set by hand is copied\n"
           "there first), else the sorted indices of the leaves that have one.")
      .def("clear", &GradBuffer::clear, "Every leaf's grad = None.")
      .def("zero", &GradBuffer::zero, "Every view zeroed and every leaf's grad = its view.")
      .def("release", &GradBuffer::release, "The leaves forget their views.");
}

}  // namespace kiln::tape
