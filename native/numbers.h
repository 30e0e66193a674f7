// Numbers parsed out of untrusted text (/proc fields, file names, version strings): never an
// exception, never undefined behaviour on overflow, just "no number". And bytes as hex text.
#pragma once

#include <charconv>
#include <cstddef>
#include <optional>
#include <string>
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

// `n` bytes as 2n lowercase hex digits (build ids, digests).
inline std::string toHex(const unsigned char* bytes, size_t n) {
    static const char digits[] = "0123456789abcdef";
    std::string out;
    out.reserve(n * 2);
    for (size_t i = 0; i < n; ++i) {
        out += digits[bytes[i] >> 4];
        out += digits[bytes[i] & 15];
    }
    return out;
}

}  // namespace triage
