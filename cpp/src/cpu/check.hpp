// Internal: argument checks that throw std::invalid_argument with a readable message.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>

#include "kiln/common.hpp"

// KILN_CHECK(cond, "conv2d: stride must be positive, got " << stride);
#define KILN_CHECK(cond, message)                         \
  do {                                                    \
    if (!(cond)) {                                        \
      std::ostringstream kiln_check_stream_;              \
      kiln_check_stream_ << message;                      \
      throw std::invalid_argument(kiln_check_stream_.str()); \
    }                                                     \
  } while (0)

namespace kiln::detail {

// a * b, refusing results beyond kMaxElements (and negative factors).
index_t checked_mul(index_t a, index_t b, const char* kernel, const char* what);

// Product of several sizes, each checked as in checked_mul.
template <typename... Ts>
index_t checked_size(const char* kernel, const char* what, index_t first, Ts... rest) {
  index_t total = first;
  ((total = checked_mul(total, static_cast<index_t>(rest), kernel, what)), ...);
  KILN_CHECK(total <= kMaxElements, kernel << ": " << what << " has " << total
                                           << " elements, more than kiln's limit of "
                                           << kMaxElements << " per operand");
  return total;
}

void check_activation(Activation act, const char* kernel);

}  // namespace kiln::detail
