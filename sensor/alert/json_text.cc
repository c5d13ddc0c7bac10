#include "sensor/alert/json_text.h"

namespace sensor::alert {

namespace {

constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD in UTF-8

bool in(uint8_t b, uint8_t lo, uint8_t hi) { return b >= lo && b <= hi; }

// Bytes written as they are: printable ASCII but '"' and '\\'. One table load per byte
// instead of four comparisons: EVE records are mostly such bytes.
constexpr std::array<bool, 256> kPlain = [] {
    std::array<bool, 256> t{};
    for (size_t c = 0x20; c < 0x80; ++c) {
        t[c] = c != '"' && c != '\\';
    }
    return t;
}();

// Length of the valid UTF-8 sequence at text[i] (RFC 3629: no overlong forms, no
// surrogates, nothing above U+10FFFF), or 0 when it is invalid; then *consumed is how many
// bytes form the invalid prefix that one U+FFFD replaces (at least 1), as nlohmann's
// decoder counts them: a lead byte and the continuation bytes it accepted before the byte
// that broke the sequence, which is then read again on its own.
size_t utf8_sequence(std::string_view text, size_t i, size_t* consumed) {
    const auto b0 = static_cast<uint8_t>(text[i]);
    size_t len = 0;
    uint8_t lo = 0x80;  // range of the second byte
    uint8_t hi = 0xBF;
    if (in(b0, 0xC2, 0xDF)) {
        len = 2;
    } else if (in(b0, 0xE0, 0xEF)) {
        len = 3;
        lo = b0 == 0xE0 ? 0xA0 : 0x80;
        hi = b0 == 0xED ? 0x9F : 0xBF;
    } else if (in(b0, 0xF0, 0xF4)) {
        len = 4;
        lo = b0 == 0xF0 ? 0x90 : 0x80;
        hi = b0 == 0xF4 ? 0x8F : 0xBF;
    } else {
        *consumed = 1;
        return 0;
    }
    size_t k = 1;
    for (; k < len && i + k < text.size(); ++k) {
        const auto b = static_cast<uint8_t>(text[i + k]);
        if (!(k == 1 ? in(b, lo, hi) : in(b, 0x80, 0xBF))) {
            break;
        }
    }
    if (k == len) {
        return len;
    }
    *consumed = k;
    return 0;
}

}  // namespace

void JsonText::append_string_to(std::string& out, std::string_view text) {
    static constexpr char kHex[] = "0123456789abcdef";
    out += '"';
    size_t i = 0;
    while (i < text.size()) {
        // Runs of plain ASCII go in one append.
        size_t run = i;
        while (run < text.size() && kPlain[static_cast<uint8_t>(text[run])]) {
            ++run;
        }
        out.append(text.data() + i, run - i);
        i = run;
        if (i >= text.size()) {
            break;
        }
        const auto c = static_cast<uint8_t>(text[i]);
        if (c >= 0x80) {
            size_t consumed = 0;
            if (const size_t len = utf8_sequence(text, i, &consumed); len != 0) {
                out.append(text.data() + i, len);
                i += len;
            } else {
                out += kReplacement;
                i += consumed;
            }
            continue;
        }
        switch (c) {
            case '"':
                out += "\\\"";
                break;
            case '\\':
                out += "\\\\";
                break;
            case '\b':
                out += "\\b";
                break;
            case '\t':
                out += "\\t";
                break;
            case '\n':
                out += "\\n";
                break;
            case '\f':
                out += "\\f";
                break;
            case '\r':
                out += "\\r";
                break;
            default:
                out += "\\u00";
                out += kHex[c >> 4];
                out += kHex[c & 0x0F];
                break;
        }
        ++i;
    }
    out += '"';
}

}  // namespace sensor::alert
