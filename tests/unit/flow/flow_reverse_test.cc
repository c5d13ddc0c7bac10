// FlowTable::reverse: a flow whose first packet a protocol recognises as a reply swaps its
// client and server, and later packets follow the new direction.

#include <gtest/gtest.h>

#include "sensor/flow/flow_table.h"

namespace sensor::flow {
namespace {

decode::DecodedPacket udp(uint8_t src_last, uint16_t sport, uint8_t dst_last, uint16_t dport) {
    decode::DecodedPacket p;
    const uint8_t src[4] = {192, 168, 10, src_last};
    const uint8_t dst[4] = {192, 168, 10, dst_last};
    p.src = core::IpAddress::v4_from(src);
    p.dst = core::IpAddress::v4_from(dst);
    p.src_port = sport;
    p.dst_port = dport;
    p.ip_proto = decode::kIpProtoUdp;
    return p;
}

TEST(FlowReverse, ReplyFirstFlowGetsTheReceiverAsClient) {
    FlowTable table(FlowConfig{});
    auto on_end = [](Flow&, EndReason) {};
    // The unicast LLMNR reply 192.168.10.101:5355 -> 192.168.10.233:54022 opens the flow.
    const auto reply = udp(101, 5355, 233, 54022);
    bool to_server = false;
    Flow& f = table.find_or_insert(reply, to_server, on_end);
    ASSERT_TRUE(to_server);  // the table alone takes the sender for the client
    table.reverse(f);
    to_server = false;
    table.update(f, reply, to_server, 88);
    EXPECT_EQ(f.client_port, 54022);
    EXPECT_EQ(f.server_port, 5355);
    EXPECT_EQ(f.client_ip(), reply.dst);
    EXPECT_EQ(f.server_ip(), reply.src);
    EXPECT_EQ(f.pkts[0], 0u);
    EXPECT_EQ(f.pkts[1], 1u);
    EXPECT_EQ(f.bytes[1], 88u);

    // A later query from the client is to_server.
    const auto query = udp(233, 54022, 101, 5355);
    Flow& same = table.find_or_insert(query, to_server, on_end);
    EXPECT_EQ(&same, &f);
    EXPECT_TRUE(to_server);
    const auto again = udp(101, 5355, 233, 54022);
    table.find_or_insert(again, to_server, on_end);
    EXPECT_FALSE(to_server);
}

TEST(FlowReverse, SwapsWhatWasCountedPerDirection) {
    FlowTable table(FlowConfig{});
    auto on_end = [](Flow&, EndReason) {};
    const auto p = udp(1, 1000, 2, 2000);
    bool to_server = false;
    Flow& f = table.find_or_insert(p, to_server, on_end);
    table.update(f, p, to_server, 70);
    table.reverse(f);
    EXPECT_EQ(f.pkts[0], 0u);
    EXPECT_EQ(f.pkts[1], 1u);
    EXPECT_EQ(f.bytes[1], 70u);
    EXPECT_EQ(f.client_port, 2000);
    table.reverse(f);  // twice is the identity
    EXPECT_EQ(f.pkts[0], 1u);
    EXPECT_EQ(f.client_port, 1000);
    EXPECT_EQ(f.client_ip(), p.src);
}

TEST(FlowReverse, IdenticalEndpointsStayAsTheyAre) {
    FlowTable table(FlowConfig{});
    auto on_end = [](Flow&, EndReason) {};
    const auto p = udp(7, 5355, 7, 5355);
    bool to_server = false;
    Flow& f = table.find_or_insert(p, to_server, on_end);
    const bool client_is_lo = f.client_is_lo;
    table.reverse(f);
    EXPECT_EQ(f.client_is_lo, client_is_lo);
    table.find_or_insert(p, to_server, on_end);
    EXPECT_TRUE(to_server);
}

}  // namespace
}  // namespace sensor::flow
