// nDPI (the sensor's classifier) must recognise the benign sessions for what they are: TLS
// with the SNI we sent, HTTP, DNS and Modbus. Fed per flow in capture order.

#include <gtest/gtest.h>

extern "C" {
#include <ndpi/ndpi_api.h>
}

#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <tuple>

#include "bench/trafficgen/generator.h"
#include "tests/unit/trafficgen/frame_view.h"

namespace sensor::trafficgen {
namespace {

using testing::FrameView;
using testing::parse_frame;

struct NdpiModuleDeleter {
    void operator()(ndpi_detection_module_struct* m) const { ndpi_exit_detection_module(m); }
};
struct NdpiFlowDeleter {
    void operator()(ndpi_flow_struct* f) const { ndpi_free_flow(f); }
};

struct FlowResult {
    std::unique_ptr<ndpi_flow_struct, NdpiFlowDeleter> flow;
    ndpi_protocol proto{};
    uint16_t server_port = 0;
    uint8_t l4 = 0;
    int packets = 0;
};

bool is(const ndpi_protocol& p, uint16_t id) {
    return p.app_protocol == id || p.master_protocol == id;
}

TEST(TrafficgenNdpi, ClassifiesBenignSessionsAndReadsTheSni) {
    std::unique_ptr<ndpi_detection_module_struct, NdpiModuleDeleter> ndpi(
        ndpi_init_detection_module(ndpi_no_prefs));
    ASSERT_TRUE(ndpi);
    NDPI_PROTOCOL_BITMASK all;
    NDPI_BITMASK_SET_ALL(all);
    ndpi_set_protocol_detection_bitmask2(ndpi.get(), &all);
    ndpi_finalize_initialization(ndpi.get());

    const Capture c =
        generate(Options{.seed = 5, .scenario = Scenario::kBenign, .benign_flows = 150});
    using Key = std::tuple<core::IpAddress, uint16_t, core::IpAddress, uint16_t>;
    std::map<Key, FlowResult> flows;
    for (const Packet& p : c.packets) {
        const FrameView v = parse_frame(p.bytes);
        ASSERT_TRUE(v.ok);
        if (v.proto == 1) {
            continue;
        }
        Key key{v.src, v.src_port, v.dst, v.dst_port};
        auto it = flows.find(key);
        if (it == flows.end()) {
            it = flows.find(Key{v.dst, v.dst_port, v.src, v.src_port});
        }
        if (it == flows.end()) {
            FlowResult r;
            r.flow.reset(static_cast<ndpi_flow_struct*>(ndpi_flow_malloc(SIZEOF_FLOW_STRUCT)));
            ASSERT_TRUE(r.flow);
            std::memset(r.flow.get(), 0, SIZEOF_FLOW_STRUCT);
            r.server_port = v.dst_port;
            r.l4 = v.proto;
            it = flows.emplace(key, std::move(r)).first;
        }
        FlowResult& r = it->second;
        if (r.packets++ > 24) {
            continue;
        }
        r.proto = ndpi_detection_process_packet(ndpi.get(), r.flow.get(), v.ip.data(),
                                                static_cast<unsigned short>(v.ip.size()),
                                                static_cast<uint64_t>(p.ts_us / 1000));
    }

    int tls = 0;
    int http = 0;
    int dns = 0;
    int modbus = 0;
    for (auto& [key, r] : flows) {
        if (r.proto.app_protocol == NDPI_PROTOCOL_UNKNOWN) {
            uint8_t guessed = 0;
            r.proto = ndpi_detection_giveup(ndpi.get(), r.flow.get(), 0, &guessed);
        }
        const std::string host = r.flow->host_server_name;
        const std::string where = std::get<0>(key).to_string() + " -> " +
                                  std::get<2>(key).to_string() + ":" +
                                  std::to_string(r.server_port);
        if (r.l4 == 6 && r.server_port == 443) {
            EXPECT_TRUE(is(r.proto, NDPI_PROTOCOL_TLS)) << where;
            EXPECT_TRUE(host.ends_with(".example.com") || host.ends_with(".example.net") ||
                        host.ends_with(".example.org"))
                << where << " sni '" << host << "'";
            ++tls;
        } else if (r.l4 == 6 && r.server_port == 80) {
            EXPECT_TRUE(is(r.proto, NDPI_PROTOCOL_HTTP)) << where;
            EXPECT_TRUE(host.ends_with(".example.com") || host.ends_with(".example.net") ||
                        host.ends_with(".example.org"))
                << where << " host '" << host << "'";
            ++http;
        } else if (r.l4 == 17 && r.server_port == 53) {
            EXPECT_TRUE(is(r.proto, NDPI_PROTOCOL_DNS)) << where;
            ++dns;
        } else if (r.l4 == 6 && r.server_port == 502) {
            EXPECT_TRUE(is(r.proto, NDPI_PROTOCOL_MODBUS)) << where;
            ++modbus;
        } else {
            ADD_FAILURE() << "unexpected benign flow " << where;
        }
    }
    EXPECT_GT(tls, 10);
    EXPECT_GT(http, 10);
    EXPECT_GT(dns, 10);
    EXPECT_GT(modbus, 3);
}

}  // namespace
}  // namespace sensor::trafficgen
