#pragma once
// JsonText: appends one compact JSON value to a string, member by member, in the exact form
// nlohmann::json::dump() writes (no spaces, the same escapes), without building a document
// first. EVE records are written this way because building and dumping a DOM per flow record
// cost a sixth of a one-worker replay. Single-threaded; the caller owns the string.

#include <array>
#include <charconv>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <type_traits>

namespace sensor::alert {

class JsonText {
public:
    static constexpr size_t kMaxDepth = 16;

    explicit JsonText(std::string& out) : out_(out) {}

    void begin_object() {
        value_prefix();
        out_ += '{';
        push();
    }
    void end_object() {
        out_ += '}';
        --depth_;
    }
    void begin_array() {
        value_prefix();
        out_ += '[';
        push();
    }
    void end_array() {
        out_ += ']';
        --depth_;
    }

    // A member name inside an object; the value follows with one of the calls below.
    void key(std::string_view name) {
        separator();
        append_string(name);
        out_ += ':';
        after_key_ = true;
    }

    void string(std::string_view text) {
        value_prefix();
        append_string(text);
    }
    template <class Int>
    requires std::is_integral_v<Int> &&(!std::is_same_v<Int, bool>)void number(Int v) {
        value_prefix();
        std::array<char, 24> buf{};
        const auto [end, ec] = std::to_chars(buf.data(), buf.data() + buf.size(), v);
        static_cast<void>(ec);  // 24 characters hold every 64-bit integer
        out_.append(buf.data(), end);
    }
    void boolean(bool v) {
        value_prefix();
        out_ += v ? "true" : "false";
    }
    // A value already serialized as compact JSON.
    void raw(std::string_view json) {
        value_prefix();
        out_ += json;
    }

    // Shorthands for a member with its value.
    void member(std::string_view name, std::string_view text) {
        key(name);
        string(text);
    }
    template <class Int>
    requires std::is_integral_v<Int> &&
        (!std::is_same_v<Int, bool>)void member(std::string_view name, Int v) {
        key(name);
        number(v);
    }

    // Appends text as a JSON string: '"', '\\' and control characters escaped as nlohmann
    // escapes them, valid UTF-8 as it is, each invalid byte as U+FFFD.
    static void append_string_to(std::string& out, std::string_view text);

private:
    void push() {
        if (depth_ < kMaxDepth) {
            first_[depth_] = true;
        }
        ++depth_;
    }
    void separator() {
        if (depth_ == 0 || depth_ > kMaxDepth) {
            return;
        }
        if (!first_[depth_ - 1]) {
            out_ += ',';
        }
        first_[depth_ - 1] = false;
    }
    // Array elements need a comma; an object member's value follows its key directly.
    void value_prefix() {
        if (after_key_) {
            after_key_ = false;
            return;
        }
        separator();
    }
    void append_string(std::string_view text) { append_string_to(out_, text); }

    std::string& out_;
    std::array<bool, kMaxDepth> first_{};
    size_t depth_ = 0;
    bool after_key_ = false;
};

}  // namespace sensor::alert
