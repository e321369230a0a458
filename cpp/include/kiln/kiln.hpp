// kiln: every public header in one include.
#pragma once

#include "kiln/common.hpp"
#include "kiln/threads.hpp"
#include "kiln/cpu_info.hpp"
#include "kiln/matmul.hpp"
#include "kiln/linear.hpp"
#include "kiln/lstm.hpp"
#include "kiln/adam.hpp"
#include "kiln/embedding.hpp"
#include "kiln/loss.hpp"
#include "kiln/activation.hpp"
#include "kiln/conv2d.hpp"
#include "kiln/pool2d.hpp"
