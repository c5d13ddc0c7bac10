// Short payload contents anchored near the payload start reach the prefilter as anchored
// expressions (rules/compiled_rules.h, choose_anchored_pattern): the rules must fire exactly
// where the inspector says, with or without a stream prefix, and stop being evaluated for
// every packet.

#include <gtest/gtest.h>

#include <string>

#include "detect_test_support.h"

namespace sensor::detect {
namespace {

using test_support::packet;
using test_support::Side;

class AnchoredPrefilterTest : public test_support::DetectFixture {};

TEST_F(AnchoredPrefilterTest, FiresOnlyWhereTheContentMayLie) {
    load(
        "alert tcp any any -> any any (content:\"|18 03|\"; depth:2; sid:1;)\n"
        "alert tcp any any -> any any (content:\"|01|\"; offset:5; depth:1; sid:2;)\n"
        "alert tcp any any -> any any (content:\"ab\"; offset:2; depth:4; nocase; sid:3;)\n");
    EXPECT_EQ(fired(packet("\x18\x03 rest")), Sids{1});
    EXPECT_EQ(fired(packet("..\x18\x03 rest")), Sids{});  // present, but past depth
    EXPECT_EQ(fired(packet("xxxxx\x01")), Sids{2});
    EXPECT_EQ(fired(packet("xxxx\x01x")), Sids{});
    EXPECT_EQ(fired(packet("xxxxxx\x01")), Sids{});
    EXPECT_EQ(fired(packet("xxxAB")), Sids{3});   // content at 3..4, inside [2, 6)
    EXPECT_EQ(fired(packet("xxxxAb")), Sids{3});  // ends exactly at offset + depth
    EXPECT_EQ(fired(packet("xxxxxab")), Sids{});  // one byte too far
    EXPECT_EQ(fired(packet("ab")), Sids{});
}

TEST_F(AnchoredPrefilterTest, PositionsCountFromThePayloadNotTheStreamPrefix) {
    load("alert tcp any any -> any any (content:\"|18 03|\"; depth:2; sid:1;)\n");
    // The previous segment's tail ends with the bytes: they are not at this payload's start.
    EXPECT_EQ(fired(packet("xx rest"), Side{{}, "tail \x18\x03"}), Sids{});
    EXPECT_EQ(fired(packet("\x18\x03 rest"), Side{{}, "a long previous segment tail"}), Sids{1});
}

TEST_F(AnchoredPrefilterTest, OnlyCandidateWhenThePrefilterHits) {
    load("alert tcp any any -> any any (content:\"|18 03|\"; depth:2; sid:1;)\n");
    fired(packet("nothing here"));
    EXPECT_EQ(detector_->stats().candidates.load(), 0u);
    fired(packet("\x18\x03"));
    EXPECT_EQ(detector_->stats().candidates.load(), 1u);
}

}  // namespace
}  // namespace sensor::detect
