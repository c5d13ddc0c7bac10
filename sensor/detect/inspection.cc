#include "sensor/detect/inspection.h"

#include <algorithm>
#include <cstring>
#include <limits>

namespace sensor::detect {

namespace {

using rules::ByteOp;
using rules::Content;
using rules::Item;

constexpr std::array<uint8_t, 256> kFold = [] {
    std::array<uint8_t, 256> t{};
    for (size_t i = 0; i < t.size(); ++i) {
        t[i] = static_cast<uint8_t>(i >= 'A' && i <= 'Z' ? i + ('a' - 'A') : i);
    }
    return t;
}();

bool equal_at(const uint8_t* hay, const std::string& needle, bool nocase) noexcept {
    const auto* n = reinterpret_cast<const uint8_t*>(needle.data());
    if (!nocase) {
        return std::memcmp(hay, n, needle.size()) == 0;
    }
    for (size_t j = 0; j < needle.size(); ++j) {
        if (kFold[hay[j]] != kFold[n[j]]) {
            return false;
        }
    }
    return true;
}

// First position p in [from, to - needle.size()] where needle occurs; -1 when none.
int64_t find(std::span<const uint8_t> buf, int64_t from, int64_t to, const std::string& needle,
             bool nocase) noexcept {
    const auto n = static_cast<int64_t>(needle.size());
    if (from < 0 || to - from < n) {
        return -1;
    }
    const uint8_t* hay = buf.data() + from;
    const auto span = static_cast<size_t>(to - from);
    if (!nocase) {
        const void* hit = memmem(hay, span, needle.data(), needle.size());
        return hit == nullptr ? -1 : static_cast<const uint8_t*>(hit) - buf.data();
    }
    const uint8_t first = kFold[static_cast<uint8_t>(needle[0])];
    const size_t last = span - needle.size();
    for (size_t i = 0; i <= last; ++i) {
        if (kFold[hay[i]] == first && equal_at(hay + i, needle, true)) {
            return from + static_cast<int64_t>(i);
        }
    }
    return -1;
}

bool uses_var(const Content& c) noexcept {
    return c.offset.is_var() || c.depth.is_var() || c.distance.is_var() || c.within.is_var();
}

bool uses_var(const ByteOp& op) noexcept { return op.offset.is_var() || op.value.is_var(); }

bool compare(const ByteOp& op, uint64_t v, uint64_t target) noexcept {
    bool r = false;
    switch (op.cmp) {
        case ByteOp::Cmp::kLt:
            r = v < target;
            break;
        case ByteOp::Cmp::kGt:
            r = v > target;
            break;
        case ByteOp::Cmp::kEq:
            r = v == target;
            break;
        case ByteOp::Cmp::kLe:
            r = v <= target;
            break;
        case ByteOp::Cmp::kGe:
            r = v >= target;
            break;
        case ByteOp::Cmp::kAnd:
            r = (v & target) != 0;
            break;
        case ByteOp::Cmp::kXor:
            r = (v ^ target) != 0;
            break;
    }
    return op.negate ? !r : r;
}

}  // namespace

bool read_number(std::span<const uint8_t> buffer, int64_t pos, const ByteOp& op, uint64_t& value,
                 int64_t& consumed) noexcept {
    const auto len = static_cast<int64_t>(buffer.size());
    if (pos < 0 || pos + op.nbytes > len) {
        return false;
    }
    const uint8_t* p = buffer.data() + pos;
    uint64_t v = 0;
    if (op.base == rules::NumBase::kBinary) {
        for (size_t i = 0; i < op.nbytes; ++i) {
            const size_t at = op.little_endian ? op.nbytes - 1 - i : i;
            v = (v << 8) | p[at];
        }
        consumed = op.nbytes;
    } else {
        const uint64_t radix = op.base == rules::NumBase::kHex   ? 16
                               : op.base == rules::NumBase::kOct ? 8
                                                                 : 10;
        // nbytes 0: the number runs to its last digit, at most to the end of the buffer.
        const size_t n = op.nbytes == 0 ? static_cast<size_t>(len - pos) : op.nbytes;
        size_t i = 0;
        for (; i < n; ++i) {
            const uint8_t c = p[i];
            uint64_t d = 0;
            if (c >= '0' && c <= '9') {
                d = c - '0';
            } else if (radix == 16 && c >= 'a' && c <= 'f') {
                d = c - 'a' + 10u;
            } else if (radix == 16 && c >= 'A' && c <= 'F') {
                d = c - 'A' + 10u;
            } else {
                break;
            }
            if (d >= radix || v > (std::numeric_limits<uint64_t>::max() - d) / radix) {
                return false;
            }
            v = v * radix + d;
        }
        if (i == 0) {
            return false;
        }
        consumed = static_cast<int64_t>(i);
    }
    if (op.bitmask != 0) {
        v &= op.bitmask;
        v >>= __builtin_ctzll(op.bitmask);
    }
    value = v;
    return true;
}

bool Inspector::inspect(const rules::Rule& rule, const rules::ItemList& list,
                        std::span<const uint8_t> buffer, size_t base, Vars& vars) noexcept {
    if (list.items.empty()) {
        return true;
    }
    rule_ = &rule;
    list_ = &list;
    buffer_ = buffer;
    len_ = static_cast<int64_t>(buffer.size());
    base_ = static_cast<int64_t>(std::min(base, buffer.size()));
    require_new_ = base_ > 0 && list.has_positive;
    vars_ = &vars;
    steps_ = 0;
    exhausted_ = false;
    const bool matched = step(0, base_, 0) == 1;
    if (exhausted_) {
        ++budget_exhausted_;
    }
    return matched;
}

int64_t Inspector::value(const rules::Operand& op) const noexcept {
    if (!op.is_var()) {
        return op.value;
    }
    uint64_t v = (*vars_)[static_cast<size_t>(op.var)];
    // Extracted values are used as offsets; anything this large is past any buffer.
    return static_cast<int64_t>(std::min<uint64_t>(v, uint64_t{1} << 40));
}

int Inspector::finish(int64_t max_end) const noexcept {
    return require_new_ && max_end <= base_ ? 0 : 1;
}

bool Inspector::later_helps(size_t i) const noexcept {
    const auto& items = list_->items;
    if (i >= items.size()) {
        return false;
    }
    const Item& item = items[i];
    switch (item.kind) {
        case Item::Kind::kContent: {
            const Content& c = rule_->contents[item.index];
            // A later start only shrinks a window that has no upper bound.
            return c.relative() && (c.has_within || c.negated);
        }
        case Item::Kind::kPcre:
            return rule_->pcres[item.index].relative;
        case Item::Kind::kByteOp:
            return rule_->byte_ops[item.index].relative;
        case Item::Kind::kIsdataat: {
            const rules::Isdataat& d = rule_->isdataats[item.index];
            return d.relative && d.negated;
        }
        case Item::Kind::kLength:
            return false;
    }
    return false;
}

int Inspector::after_match(size_t i, int64_t match_end, int64_t new_max) noexcept {
    if (i + 1 >= list_->items.size()) {
        return finish(new_max) == 1 ? 1 : kTryNext;
    }
    const int r = step(i + 1, match_end, new_max);
    if (r != 0) {
        return r;
    }
    if (!later_helps(i + 1) && !(require_new_ && new_max <= base_)) {
        return 0;
    }
    return kTryNext;
}

int Inspector::step(size_t i, int64_t prev, int64_t max_end) noexcept {
    const auto& items = list_->items;
    if (i >= items.size()) {
        return finish(max_end);
    }
    if (++steps_ > kStepBudget) {
        exhausted_ = true;
        return -1;
    }
    const Item& item = items[i];
    switch (item.kind) {
        case Item::Kind::kContent:
            return content_step(i, rule_->contents[item.index], prev, max_end);
        case Item::Kind::kPcre:
            return pcre_step(i, rule_->pcres[item.index], prev, max_end);
        case Item::Kind::kByteOp:
            return byte_step(i, rule_->byte_ops[item.index], prev, max_end);
        case Item::Kind::kIsdataat:
            return isdataat_step(i, rule_->isdataats[item.index], prev, max_end);
        case Item::Kind::kLength: {
            const uint64_t size = static_cast<uint64_t>(len_ - base_);
            if (!rule_->lengths[item.index].check.matches(size)) {
                return -1;
            }
            return step(i + 1, prev, max_end);
        }
    }
    return -1;
}

int Inspector::content_step(size_t i, const Content& c, int64_t prev, int64_t max_end) noexcept {
    const auto clen = static_cast<int64_t>(c.bytes.size());
    int64_t start = 0;
    int64_t end = len_;
    if (c.relative()) {
        const int64_t distance = c.has_distance ? value(c.distance) : 0;
        start = std::max<int64_t>(prev + distance, 0);
        if (c.has_within) {
            end = std::min(end, prev + distance + value(c.within));
        }
    } else if (c.anchored()) {
        const int64_t offset = c.has_offset ? value(c.offset) : 0;
        start = base_ + offset;
        if (c.has_depth) {
            end = std::min(end, start + value(c.depth));
        }
    }
    // Without variables or a relative anchor, nothing an earlier keyword does changes the
    // outcome of this one.
    const int fail = c.relative() || uses_var(c) ? 0 : -1;
    int64_t from = start;
    while (true) {
        int64_t pos = -1;
        if (start <= end && end > 0) {
            if (c.endswith) {
                const int64_t at = len_ - clen;
                if (end == len_ && at >= from && equal_at(buffer_.data() + at, c.bytes, c.nocase)) {
                    pos = at;
                }
            } else {
                pos = find(buffer_, from, end, c.bytes, c.nocase);
            }
        }
        if (c.negated) {
            return pos < 0 ? step(i + 1, prev, max_end) : fail;
        }
        if (pos < 0) {
            return from == start ? fail : 0;
        }
        const int64_t match_end = pos + clen;
        const int64_t new_max = std::max(max_end, match_end);
        if (const int r = after_match(i, match_end, new_max); r != kTryNext) {
            return r;
        }
        if (exhausted_) {
            return -1;
        }
        from = pos + 1;
    }
}

int Inspector::pcre_step(size_t i, const rules::Pcre& p, int64_t prev, int64_t max_end) noexcept {
    const int64_t subject_start = p.relative ? prev : base_;
    if (subject_start > len_) {
        return p.negated ? step(i + 1, prev, max_end) : 0;
    }
    const std::span<const uint8_t> subject = buffer_.subspan(static_cast<size_t>(subject_start));
    const int fail = p.relative ? 0 : -1;
    size_t search_at = 0;
    while (true) {
        size_t ms = 0;
        size_t me = 0;
        rules::Regex::Outcome outcome = p.regex.search(subject, search_at, scratch_, ms, me);
        if (outcome == rules::Regex::Outcome::kError) {
            ++pcre_errors_;
        }
        const bool matched = outcome == rules::Regex::Outcome::kMatch;
        if (p.negated) {
            return matched ? fail : step(i + 1, prev, max_end);
        }
        if (!matched) {
            return search_at == 0 ? fail : 0;
        }
        const int64_t match_end = subject_start + static_cast<int64_t>(me);
        const int64_t new_max = std::max(max_end, match_end);
        if (const int r = after_match(i, match_end, new_max); r != kTryNext) {
            return r;
        }
        if (exhausted_ || ++steps_ > kStepBudget) {
            exhausted_ = true;
            return -1;
        }
        search_at = ms + 1;
        if (search_at > subject.size()) {
            return 0;
        }
    }
}

int Inspector::byte_step(size_t i, const ByteOp& op, int64_t prev, int64_t max_end) noexcept {
    const int fail = op.relative || uses_var(op) ? 0 : -1;
    const int64_t pos = (op.relative ? prev : base_) + value(op.offset);
    uint64_t v = 0;
    int64_t consumed = 0;
    if (!read_number(buffer_, pos, op, v, consumed)) {
        return fail;
    }
    switch (op.kind) {
        case ByteOp::Kind::kTest: {
            const uint64_t target = op.value.is_var() ? (*vars_)[static_cast<size_t>(op.value.var)]
                                                      : static_cast<uint64_t>(op.value.value);
            if (!compare(op, v, target)) {
                return fail;
            }
            return step(i + 1, prev, max_end);
        }
        case ByteOp::Kind::kJump: {
            // Saturate rather than wrap: any jump this long is past the buffer.
            constexpr uint64_t kFar = uint64_t{1} << 40;
            v = std::min(v, kFar) * op.multiplier;
            if (op.align4 && v % 4 != 0) {
                v += 4 - v % 4;
            }
            const int64_t jump = static_cast<int64_t>(std::min(v, kFar)) + op.post_offset;
            int64_t target = 0;
            if (op.from_beginning) {
                target = base_ + jump;
            } else if (op.from_end) {
                target = len_ + jump;
            } else {
                target = pos + consumed + jump;
            }
            // As Suricata: before the start clamps to the start, past the end fails.
            target = std::max(target, base_);
            if (target > len_) {
                return fail;
            }
            return step(i + 1, target, max_end);
        }
        case ByteOp::Kind::kExtract: {
            v *= op.multiplier;
            if (op.align != 0 && v % op.align != 0) {
                v += op.align - v % op.align;
            }
            if (op.var >= 0) {
                (*vars_)[static_cast<size_t>(op.var)] = v;
            }
            return step(i + 1, pos + consumed, max_end);
        }
    }
    return fail;
}

int Inspector::isdataat_step(size_t i, const rules::Isdataat& d, int64_t prev,
                             int64_t max_end) noexcept {
    const int fail = d.relative || d.position.is_var() ? 0 : -1;
    const int64_t n = value(d.position);
    bool ok = d.relative ? prev + n <= len_ : base_ + n < len_;
    if (d.negated) {
        ok = !ok;
    }
    return ok ? step(i + 1, prev, max_end) : fail;
}

}  // namespace sensor::detect
