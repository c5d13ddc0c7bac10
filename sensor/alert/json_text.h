#pragma once
// JsonText: appends one compact JSON value to a string, member by member, in the exact form
// nlohmann::json::dump() writes (no spaces, the same escapes), without building a document
// first. EVE records are written this way because building and dumping a DOM per flow record
// cost a sixth of a one-worker replay. Pieces are gathered in a small buffer of its own and
// reach the string in a few appends, each time a top-level value is complete (and when the
// buffer fills): reading the string before then misses the value's end. Single-threaded; the
// caller owns the string.

#include <array>
#include <charconv>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <type_traits>

namespace sensor::alert {

class JsonText {
public:
    static constexpr size_t kMaxDepth = 16;

    explicit JsonText(std::string& out) : out_(out) {}
    // Hands over what a caller left unfinished (an object still open).
    ~JsonText() {
        try {
            spill();
        } catch (...) {
            // Only an unfinished value can be lost here: complete ones were handed over.
        }
    }
    JsonText(const JsonText&) = delete;
    JsonText& operator=(const JsonText&) = delete;

    void begin_object() {
        value_prefix();
        put('{');
        push();
    }
    void end_object() {
        put('}');
        pop();
    }
    void begin_array() {
        value_prefix();
        put('[');
        push();
    }
    void end_array() {
        put(']');
        pop();
    }

    // A member name inside an object; the value follows with one of the calls below.
    void key(std::string_view name) {
        separator();
        put_key(name);
        after_key_ = true;
    }

    void string(std::string_view text) {
        value_prefix();
        append_string(text);
        value_done();
    }
    template <class Int>
    requires std::is_integral_v<Int> &&(!std::is_same_v<Int, bool>)void number(Int v) {
        value_prefix();
        constexpr size_t kDigits = 24;  // every 64-bit integer with its sign
        if (stage_.size() - staged_ < kDigits) {
            spill();
        }
        const auto [end, ec] =
            std::to_chars(stage_.data() + staged_, stage_.data() + staged_ + kDigits, v);
        static_cast<void>(ec);
        staged_ = static_cast<size_t>(end - stage_.data());
        value_done();
    }
    void boolean(bool v) {
        value_prefix();
        put(v ? std::string_view("true") : std::string_view("false"));
        value_done();
    }
    // A value already serialized as compact JSON.
    void raw(std::string_view json) {
        value_prefix();
        put(json);
        value_done();
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
    static constexpr size_t kStageBytes = 512;

    void push() {
        if (depth_ < kMaxDepth) {
            first_[depth_] = true;
        }
        ++depth_;
    }
    void pop() {
        --depth_;
        value_done();
    }
    // A complete top-level value goes to the string.
    void value_done() {
        if (depth_ == 0) {
            spill();
        }
    }
    void put(char c) {
        if (staged_ == stage_.size()) {
            spill();
        }
        stage_[staged_++] = c;
    }
    void put(std::string_view text) {
        if (text.size() > stage_.size() - staged_) {
            put_long(text);
            return;
        }
        std::memcpy(stage_.data() + staged_, text.data(), text.size());
        staged_ += text.size();
    }
    void put_long(std::string_view text);  // text does not fit what is left of the stage
    void spill();                          // the staged bytes to out_
    void separator() {
        if (depth_ == 0 || depth_ > kMaxDepth) {
            return;
        }
        if (!first_[depth_ - 1]) {
            put(',');
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
    void append_string(std::string_view text);
    // `"name":`; names are nearly always plain ASCII, which needs no escaping pass.
    void put_key(std::string_view name);

    std::string& out_;
    std::array<char, kStageBytes> stage_;
    size_t staged_ = 0;
    std::array<bool, kMaxDepth> first_{};
    size_t depth_ = 0;
    bool after_key_ = false;
};

}  // namespace sensor::alert
