#pragma once
// FixedString<N>: text of at most N bytes stored inline, for records that the packet path fills
// for every flow (core::FlowRecord). A std::string above its 15-byte inline buffer would cost a
// heap allocation per record; this never allocates. Longer text is cut to N bytes, and
// truncated() says so.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace sensor::core {

template <size_t N>
class FixedString {
    static_assert(N > 0 && N <= UINT16_MAX, "the size is kept in 16 bits");

public:
    FixedString() noexcept = default;
    // Implicit, as a std::string would be: records are filled from views and literals.
    FixedString(std::string_view text) noexcept {
        assign(text);
    }  // NOLINT(google-explicit-constructor)
    FixedString& operator=(std::string_view text) noexcept {
        assign(text);
        return *this;
    }

    void assign(std::string_view text) noexcept {
        size_ = static_cast<uint16_t>(std::min(text.size(), N));
        truncated_ = text.size() > N;
        if (size_ > 0) {
            std::memcpy(data_, text.data(), size_);
        }
    }
    void clear() noexcept {
        size_ = 0;
        truncated_ = false;
    }

    std::string_view view() const noexcept { return {data_, size_}; }
    operator std::string_view() const noexcept {
        return view();
    }  // NOLINT(google-explicit-constructor)
    std::string str() const { return std::string(view()); }
    const char* data() const noexcept { return data_; }
    size_t size() const noexcept { return size_; }
    bool empty() const noexcept { return size_ == 0; }
    bool truncated() const noexcept { return truncated_; }
    static constexpr size_t capacity() noexcept { return N; }

    friend bool operator==(const FixedString& a, std::string_view b) noexcept {
        return a.view() == b;
    }
    friend bool operator==(const FixedString& a, const FixedString& b) noexcept {
        return a.view() == b.view();
    }

private:
    char data_[N] = {};  // only the first size_ bytes are meaningful
    uint16_t size_ = 0;
    bool truncated_ = false;
};

}  // namespace sensor::core
