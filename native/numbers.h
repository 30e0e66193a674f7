// Numbers parsed out of untrusted text (/proc fields, file names, version strings): never an
// exception, never undefined behaviour on overflow, just "no number".
#pragma once

#include <charconv>
#include <optional>
#include <string_view>

namespace triage {

// The number at the start of `text` after leading blanks, in `base`; nullopt when there is
// none or it does not fit in T.
template <typename T>
std::optional<T> parseNumber(std::string_view text, int base = 10) {
    size_t start = text.find_first_not_of(" \t");
    if (start == std::string_view::npos) return std::nullopt;
    T value{};
    auto result = std::from_chars(text.data() + start, text.data() + text.size(), value, base);
    if (result.ec != std::errc()) return std::nullopt;
    return value;
}

}  // namespace triage
