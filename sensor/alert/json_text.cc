#include "sensor/alert/json_text.h"

#include <cstring>

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

// Index of the first byte at or after `from` that is not plain (kPlain), or text.size().
// Eight bytes at a time while they are all plain, as most EVE text is.
size_t plain_end(std::string_view text, size_t from) noexcept {
    constexpr uint64_t kOnes = 0x0101010101010101;
    constexpr uint64_t kHigh = 0x8080808080808080;
    size_t i = from;
    for (; i + 8 <= text.size(); i += 8) {
        uint64_t x;
        std::memcpy(&x, text.data() + i, 8);
        // Whether any byte is >= 0x80, < 0x20, '"' or '\\' (the usual bit tricks: the lowest
        // such byte always sets its high bit; a false alarm would only cost the byte loop).
        const uint64_t quote = x ^ (kOnes * '"');
        const uint64_t backslash = x ^ (kOnes * '\\');
        const uint64_t special = (x | ((x - kOnes * 0x20) & ~x) | ((quote - kOnes) & ~quote) |
                                  ((backslash - kOnes) & ~backslash)) &
                                 kHigh;
        if (special != 0) {
            break;
        }
    }
    while (i < text.size() && kPlain[static_cast<uint8_t>(text[i])]) {
        ++i;
    }
    return i;
}

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

// Writes text as a JSON string through out (a type with append(const char*, size_t) and
// push(char)).
template <class Out>
void escape(Out& out, std::string_view text) {
    static constexpr char kHex[] = "0123456789abcdef";
    out.push('"');
    size_t i = 0;
    while (i < text.size()) {
        // Runs of plain ASCII go in one append.
        const size_t run = plain_end(text, i);
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
                out.append(kReplacement.data(), kReplacement.size());
                i += consumed;
            }
            continue;
        }
        const char* escaped = nullptr;
        switch (c) {
            case '"':
                escaped = "\\\"";
                break;
            case '\\':
                escaped = "\\\\";
                break;
            case '\b':
                escaped = "\\b";
                break;
            case '\t':
                escaped = "\\t";
                break;
            case '\n':
                escaped = "\\n";
                break;
            case '\f':
                escaped = "\\f";
                break;
            case '\r':
                escaped = "\\r";
                break;
            default:
                break;
        }
        if (escaped != nullptr) {
            out.append(escaped, 2);
        } else {
            const char unicode[] = {'\\', 'u', '0', '0', kHex[c >> 4], kHex[c & 0x0F]};
            out.append(unicode, sizeof(unicode));
        }
        ++i;
    }
    out.push('"');
}

struct StringOut {
    std::string& s;
    void append(const char* data, size_t n) { s.append(data, n); }
    void push(char c) { s.push_back(c); }
};

}  // namespace

void JsonText::append_string_to(std::string& out, std::string_view text) {
    StringOut sink{out};
    escape(sink, text);
}

void JsonText::append_string(std::string_view text) {
    struct StageOut {
        JsonText& j;
        void append(const char* data, size_t n) { j.put(std::string_view(data, n)); }
        void push(char c) { j.put(c); }
    } sink{*this};
    escape(sink, text);
}

void JsonText::put_key(std::string_view name) {
    if (name.size() + 3 <= stage_.size() - staged_ && plain_end(name, 0) == name.size()) {
        char* at = stage_.data() + staged_;
        at[0] = '"';
        std::memcpy(at + 1, name.data(), name.size());
        at[name.size() + 1] = '"';
        at[name.size() + 2] = ':';
        staged_ += name.size() + 3;
        return;
    }
    append_string(name);
    put(':');
}

void JsonText::spill() {
    out_.append(stage_.data(), staged_);
    staged_ = 0;
}

void JsonText::put_long(std::string_view text) {
    spill();
    if (text.size() > stage_.size()) {
        out_.append(text);
        return;
    }
    std::memcpy(stage_.data(), text.data(), text.size());
    staged_ = text.size();
}

}  // namespace sensor::alert
