// Parse an activation name from Python ("relu", None, ...).
#pragma once

#include <pybind11/pybind11.h>

#include "kiln/common.hpp"

namespace kiln::bind {

Activation parse_activation(const char* fn, pybind11::handle name);

}  // namespace kiln::bind
