// UTF-8 helpers: everything handed to Python must be valid UTF-8, whatever the target held.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace triage {

// Appends a code point; surrogates and values past U+10FFFF become U+FFFD.
void appendCodePoint(std::string* out, uint32_t cp);

// Returns `in` with every invalid UTF-8 sequence replaced by U+FFFD.
std::string sanitizeUtf8(std::string_view in);

}  // namespace triage
