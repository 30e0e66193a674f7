#include "cpython/linetable.h"

namespace triage::cpython {

namespace {

// co_lnotab (2.7-3.9): (bytecode increment, line increment) pairs; increments are unsigned in
// 2.7 (big jumps split into several pairs) and signed from 3.6 on.
int lnotabLine(const std::string& t, int line, int64_t target, bool signed_lines) {
    int64_t addr = 0;
    for (size_t i = 0; i + 1 < t.size(); i += 2) {
        addr += static_cast<unsigned char>(t[i]);
        if (addr > target) break;
        line += signed_lines ? static_cast<signed char>(t[i + 1])
                             : static_cast<unsigned char>(t[i + 1]);
    }
    return line;
}

// co_linetable (3.10): (bytecode length, line delta) pairs; a delta of -128 marks a range
// without a line number.
int linetable310Line(const std::string& t, int line, int64_t target) {
    int64_t start = 0;
    for (size_t i = 0; i + 1 < t.size(); i += 2) {
        int64_t end = start + static_cast<unsigned char>(t[i]);
        int delta = static_cast<signed char>(t[i + 1]);
        if (delta != -128) line += delta;
        if (start <= target && target < end) return delta == -128 ? -1 : line;
        start = end;
    }
    return -1;
}

struct Cursor {
    const std::string& t;
    size_t pos;
    bool ok() const { return pos < t.size(); }
    unsigned byte() { return ok() ? static_cast<unsigned char>(t[pos++]) : 0; }
    // 6-bit chunks, bit 6 says another chunk follows.
    uint64_t varint() {
        uint64_t value = 0;
        for (unsigned shift = 0; ok() && shift < 64; shift += 6) {
            unsigned b = byte();
            value |= static_cast<uint64_t>(b & 63) << shift;
            if ((b & 64) == 0) break;
        }
        return value;
    }
    int64_t svarint() {
        uint64_t v = varint();
        return (v & 1) ? -static_cast<int64_t>(v >> 1) : static_cast<int64_t>(v >> 1);
    }
};

// PEP 657 location table (3.11+): entries cover (low 3 bits + 1) code units; bits 3-6 give the
// form, which says how the line delta is stored and how many column bytes follow.
Location locations(const std::string& t, int line, int64_t target) {
    Cursor c{t, 0};
    int64_t start = 0;
    while (c.ok()) {
        unsigned head = c.byte();
        if ((head & 0x80) == 0) break;  // every entry starts with bit 7 set
        unsigned code = (head >> 3) & 15;
        int64_t end = start + 2 * ((head & 7) + 1);
        Location here;
        if (code == 15) {
            // No location: the line stays as it was for the entries that follow.
        } else if (code == 14) {
            line += static_cast<int>(c.svarint());
            here.end_line = line + static_cast<int>(c.varint());
            here.column = static_cast<int>(c.varint()) - 1;
            here.end_column = static_cast<int>(c.varint()) - 1;
        } else if (code == 13) {
            line += static_cast<int>(c.svarint());
            here.end_line = line;
        } else if (code >= 10) {
            line += static_cast<int>(code - 10);
            here.end_line = line;
            here.column = static_cast<int>(c.byte());
            here.end_column = static_cast<int>(c.byte());
        } else {
            // Same line; the column's high bits are the form, one byte holds the rest and
            // the length.
            unsigned packed = c.byte();
            here.end_line = line;
            here.column = static_cast<int>(code * 8 + ((packed >> 4) & 7));
            here.end_column = here.column + static_cast<int>(packed & 15);
        }
        if (code != 15) here.line = line;
        if (start <= target && target < end) return here;
        start = end;
    }
    return Location{};
}

}  // namespace

int lineForOffset(LineTable format, const std::string& table, int first_line, int64_t byte_offset) {
    switch (format) {
        case LineTable::Lnotab27:
            return lnotabLine(table, first_line, byte_offset, false);
        case LineTable::Lnotab36:
            return lnotabLine(table, first_line, byte_offset, true);
        case LineTable::Linetable310:
            return linetable310Line(table, first_line, byte_offset);
        case LineTable::Locations311:
            return locations(table, first_line, byte_offset).line;
    }
    return -1;
}

Location locationForOffset(const std::string& table, int first_line, int64_t byte_offset) {
    return locations(table, first_line, byte_offset);
}

}  // namespace triage::cpython
