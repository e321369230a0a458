// kiln._cuda: DLPack capsules for kiln's device arrays, both ways.
//
//   to_dlpack(owner, address, shape, strides, type_code, bits, device_type, device_id, versioned)
//       a capsule ("dltensor_versioned", or "dltensor" for a consumer that asks for no
//       version) whose deleter releases `owner` (the array), so the memory lives as long as
//       the consumer holds it;
//   from_dlpack(capsule) -> (address, shape, strides, type_code, bits, device_type, device_id, keeper)
//       consumes a capsule of either kind (renaming it "used_...", as the protocol says);
//       `keeper` calls the producer's deleter when the last kiln array viewing it goes.
#include <pybind11/stl.h>

#include <stdexcept>
#include <string>
#include <tuple>
#include <vector>

#include "bindings.hpp"
#include "dlpack.hpp"

namespace py = pybind11;

namespace kiln::python::cuda {
namespace {

namespace dl = kiln::python::dlpack;

constexpr const char* kVersioned = "dltensor_versioned";
constexpr const char* kLegacy = "dltensor";

// What a capsule kiln produced owns: the shape and strides its DLTensor points at, and a
// reference to the array.
struct Export {
  std::vector<int64_t> shape, strides;
  PyObject* owner;
};

void release_export(void* context) {
  auto* e = static_cast<Export*>(context);
  if (Py_IsInitialized()) {
    py::gil_scoped_acquire gil;
    Py_XDECREF(e->owner);
  }
  delete e;
}

void delete_versioned(dl::ManagedTensorVersioned* t) {
  release_export(t->manager_ctx);
  delete t;
}

void delete_legacy(dl::ManagedTensor* t) {
  release_export(t->manager_ctx);
  delete t;
}

// A capsule nobody consumed still owns its tensor.
void capsule_destructor(PyObject* capsule) {
  if (PyCapsule_IsValid(capsule, kVersioned)) {
    auto* t = static_cast<dl::ManagedTensorVersioned*>(PyCapsule_GetPointer(capsule, kVersioned));
    if (t->deleter) t->deleter(t);
  } else if (PyCapsule_IsValid(capsule, kLegacy)) {
    auto* t = static_cast<dl::ManagedTensor*>(PyCapsule_GetPointer(capsule, kLegacy));
    if (t->deleter) t->deleter(t);
  }
}

py::capsule to_dlpack(py::object owner, std::uintptr_t address, std::vector<int64_t> shape,
                      std::vector<int64_t> strides, int type_code, int bits, int device_type, int device_id,
                      bool versioned) {
  if (shape.size() != strides.size()) throw std::invalid_argument("to_dlpack: shape and strides differ in length");
  auto* e = new Export{std::move(shape), std::move(strides), owner.release().ptr()};
  dl::Tensor t{};
  t.data = as_pointer<void>(address);
  t.device = dl::Device{device_type, device_id};
  t.ndim = static_cast<int32_t>(e->shape.size());
  t.dtype = dl::DataType{static_cast<uint8_t>(type_code), static_cast<uint8_t>(bits), 1};
  t.shape = e->shape.data();
  t.strides = e->strides.data();
  t.byte_offset = 0;
  PyObject* capsule;
  if (versioned) {
    auto* m = new dl::ManagedTensorVersioned{dl::Version{1, 0}, e, &delete_versioned, 0, t};
    capsule = PyCapsule_New(m, kVersioned, &capsule_destructor);
  } else {
    auto* m = new dl::ManagedTensor{t, e, &delete_legacy};
    capsule = PyCapsule_New(m, kLegacy, &capsule_destructor);
  }
  if (!capsule) throw py::error_already_set();
  return py::reinterpret_steal<py::capsule>(capsule);
}

// Holds a consumed tensor; its producer's deleter runs when this goes.
class Keeper {
 public:
  Keeper(dl::ManagedTensorVersioned* v, dl::ManagedTensor* legacy) : versioned_(v), legacy_(legacy) {}
  ~Keeper() {
    if (versioned_ && versioned_->deleter) versioned_->deleter(versioned_);
    if (legacy_ && legacy_->deleter) legacy_->deleter(legacy_);
  }
  Keeper(const Keeper&) = delete;
  Keeper& operator=(const Keeper&) = delete;

 private:
  dl::ManagedTensorVersioned* versioned_;
  dl::ManagedTensor* legacy_;
};

py::tuple from_dlpack(py::capsule capsule) {
  PyObject* c = capsule.ptr();
  dl::ManagedTensorVersioned* versioned = nullptr;
  dl::ManagedTensor* legacy = nullptr;
  const dl::Tensor* t;
  if (PyCapsule_IsValid(c, kVersioned)) {
    versioned = static_cast<dl::ManagedTensorVersioned*>(PyCapsule_GetPointer(c, kVersioned));
    if (versioned->version.major != 1)
      throw py::buffer_error("from_dlpack: DLPack version " + std::to_string(versioned->version.major) +
                             ".x is not supported (kiln reads 1.x)");
    t = &versioned->dl_tensor;
  } else if (PyCapsule_IsValid(c, kLegacy)) {
    legacy = static_cast<dl::ManagedTensor*>(PyCapsule_GetPointer(c, kLegacy));
    t = &legacy->dl_tensor;
  } else {
    throw std::invalid_argument("from_dlpack: not an unconsumed DLPack capsule (a capsule is used once)");
  }
  if (t->dtype.lanes != 1) throw std::invalid_argument("from_dlpack: vector dtypes (lanes > 1) are not supported");
  std::vector<int64_t> shape(t->shape, t->shape + t->ndim), strides(t->ndim);
  if (t->strides) {
    strides.assign(t->strides, t->strides + t->ndim);
  } else {
    int64_t s = 1;
    for (int d = t->ndim - 1; d >= 0; --d) {
      strides[d] = s;
      s *= shape[d];
    }
  }
  const std::uintptr_t address = reinterpret_cast<std::uintptr_t>(t->data) + t->byte_offset;
  const bool read_only = versioned && (versioned->flags & dl::kFlagReadOnly);
  PyCapsule_SetName(c, versioned ? "used_dltensor_versioned" : "used_dltensor");
  py::object keeper = py::cast(new Keeper(versioned, legacy), py::return_value_policy::take_ownership);
  return py::make_tuple(address, shape, strides, t->dtype.code, t->dtype.bits, t->device.device_type,
                        t->device.device_id, read_only, keeper);
}

}  // namespace

void bind_dlpack(py::module_& m) {
  py::class_<Keeper>(m, "DLPackKeeper", "Keeps a tensor received through DLPack alive.");
  m.def("to_dlpack", &to_dlpack, py::arg("owner"), py::arg("address"), py::arg("shape"), py::arg("strides"),
        py::arg("type_code"), py::arg("bits"), py::arg("device_type"), py::arg("device_id"), py::arg("versioned"));
  m.def("from_dlpack", &from_dlpack, py::arg("capsule"));
}

}  // namespace kiln::python::cuda
