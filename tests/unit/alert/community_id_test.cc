#include "sensor/alert/community_id.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <string>

namespace sensor::alert {
namespace {

core::IpAddress parse_ip(const std::string& text) {
    uint8_t bytes[16] = {};
    if (inet_pton(AF_INET, text.c_str(), bytes) == 1) {
        return core::IpAddress::v4_from(bytes);
    }
    EXPECT_EQ(inet_pton(AF_INET6, text.c_str(), bytes), 1) << text;
    return core::IpAddress::v6_from(bytes);
}

// For TCP/UDP/SCTP `a` and `b` are the ports; for ICMP/ICMPv6 they are type and code; other
// protocols ignore them.
struct Vector {
    uint8_t proto;
    const char* saddr;
    const char* daddr;
    uint16_t a;
    uint16_t b;
    uint16_t seed;
    const char* id;
};

core::Endpoints endpoints_of(const Vector& v) {
    core::Endpoints e;
    e.src_ip = parse_ip(v.saddr);
    e.dest_ip = parse_ip(v.daddr);
    e.ip_proto = v.proto;
    if (v.proto == 1 || v.proto == 58) {
        e.icmp_type = static_cast<uint8_t>(v.a);
        e.icmp_code = static_cast<uint8_t>(v.b);
    } else {
        e.src_port = v.a;
        e.dest_port = v.b;
    }
    return e;
}

class CommunityIdBaseline : public ::testing::TestWithParam<Vector> {};

TEST_P(CommunityIdBaseline, MatchesPublishedId) {
    const Vector& v = GetParam();
    EXPECT_EQ(community_id_v1(endpoints_of(v), v.seed), v.id)
        << int(v.proto) << " " << v.saddr << " " << v.a << " -> " << v.daddr << " " << v.b
        << " seed " << v.seed;
    // The packet path's inline copy: the same text, whole.
    const core::CommunityId text = community_id_v1_text(endpoints_of(v), v.seed);
    EXPECT_EQ(text.view(), v.id);
    EXPECT_FALSE(text.truncated());
}

// Source: github.com/corelight/community-id-spec, baseline/README.md, tables "Default
// settings" and "A custom seed=1 value" (ICMP rows give type and code).
INSTANTIATE_TEST_SUITE_P(
    SpecTables, CommunityIdBaseline,
    ::testing::Values(
        Vector{6, "1.2.3.4", "5.6.7.8", 1122, 3344, 0, "1:wCb3OG7yAFWelaUydu0D+125CLM="},
        Vector{6, "5.6.7.8", "1.2.3.4", 3344, 1122, 0, "1:wCb3OG7yAFWelaUydu0D+125CLM="},
        Vector{17, "1.2.3.4", "5.6.7.8", 1122, 3344, 0, "1:0Mu9InQx6z4ZiCZM/7HXi2WMhOg="},
        Vector{17, "5.6.7.8", "1.2.3.4", 3344, 1122, 0, "1:0Mu9InQx6z4ZiCZM/7HXi2WMhOg="},
        Vector{132, "1.2.3.4", "5.6.7.8", 1122, 3344, 0, "1:EKt4MsxuyaE6mL+hmrEkQ9csDD8="},
        Vector{132, "5.6.7.8", "1.2.3.4", 3344, 1122, 0, "1:EKt4MsxuyaE6mL+hmrEkQ9csDD8="},
        Vector{1, "1.2.3.4", "5.6.7.8", 8, 0, 0, "1:crodRHL2FEsHjbv3UkRrfbs4bZ0="},
        Vector{1, "5.6.7.8", "1.2.3.4", 0, 0, 0, "1:crodRHL2FEsHjbv3UkRrfbs4bZ0="},
        Vector{1, "1.2.3.4", "5.6.7.8", 11, 0, 0, "1:f/YiSyWqczrTgfUCZlBUnvHRcPk="},
        Vector{58, "fe80:0001:0203:0405:0607:0809:0A0B:0C0D",
               "fe80:1011:1213:1415:1617:1819:1A1B:1C1D", 128, 0, 0,
               "1:0bf7hyMJUwt3fMED7z8LIfRpBeo="},
        Vector{58, "fe80:1011:1213:1415:1617:1819:1A1B:1C1D",
               "fe80:0001:0203:0405:0607:0809:0A0B:0C0D", 129, 0, 0,
               "1:0bf7hyMJUwt3fMED7z8LIfRpBeo="},
        Vector{58, "fe80:0001:0203:0405:0607:0809:0A0B:0C0D",
               "fe80:1011:1213:1415:1617:1819:1A1B:1C1D", 146, 0, 0,
               "1:fYC8+pz24E+EhANP1EZhpX0Dw10="},
        Vector{46, "1.2.3.4", "5.6.7.8", 0, 0, 0, "1:ikv3kmf89luf73WPz1jOs49S768="},
        Vector{46, "5.6.7.8", "1.2.3.4", 0, 0, 0, "1:ikv3kmf89luf73WPz1jOs49S768="},
        Vector{46, "fe80:0001:0203:0405:0607:0809:0A0B:0C0D",
               "fe80:1011:1213:1415:1617:1819:1A1B:1C1D", 0, 0, 0,
               "1:wQ/2mwrnXP4lmJcHdGL5ePjR+e0="},
        Vector{46, "fe80:1011:1213:1415:1617:1819:1A1B:1C1D",
               "fe80:0001:0203:0405:0607:0809:0A0B:0C0D", 0, 0, 0,
               "1:wQ/2mwrnXP4lmJcHdGL5ePjR+e0="},
        Vector{6, "1.2.3.4", "5.6.7.8", 1122, 3344, 1, "1:HhA1B+6CoLbiKPEs5nhNYN4XWfk="},
        Vector{6, "5.6.7.8", "1.2.3.4", 3344, 1122, 1, "1:HhA1B+6CoLbiKPEs5nhNYN4XWfk="},
        Vector{17, "1.2.3.4", "5.6.7.8", 1122, 3344, 1, "1:OShq+iKDAMVouh/4bMxB9Sz4amw="},
        Vector{17, "5.6.7.8", "1.2.3.4", 3344, 1122, 1, "1:OShq+iKDAMVouh/4bMxB9Sz4amw="},
        Vector{132, "1.2.3.4", "5.6.7.8", 1122, 3344, 1, "1:uitchpn5MMGAQKBJh7bIr/bAr7s="},
        Vector{132, "5.6.7.8", "1.2.3.4", 3344, 1122, 1, "1:uitchpn5MMGAQKBJh7bIr/bAr7s="},
        Vector{1, "1.2.3.4", "5.6.7.8", 8, 0, 1, "1:9pr4ZGTICiuZoIh90RRYE2RyXpU="},
        Vector{1, "5.6.7.8", "1.2.3.4", 0, 0, 1, "1:9pr4ZGTICiuZoIh90RRYE2RyXpU="},
        Vector{1, "1.2.3.4", "5.6.7.8", 11, 0, 1, "1:1DD7cWGC/Yg91YGsQeni8du3pIA="},
        Vector{58, "fe80:0001:0203:0405:0607:0809:0A0B:0C0D",
               "fe80:1011:1213:1415:1617:1819:1A1B:1C1D", 128, 0, 1,
               "1:IO27GQzPuCtNnwFvjWALMHu5tJE="},
        Vector{58, "fe80:1011:1213:1415:1617:1819:1A1B:1C1D",
               "fe80:0001:0203:0405:0607:0809:0A0B:0C0D", 129, 0, 1,
               "1:IO27GQzPuCtNnwFvjWALMHu5tJE="},
        Vector{58, "fe80:0001:0203:0405:0607:0809:0A0B:0C0D",
               "fe80:1011:1213:1415:1617:1819:1A1B:1C1D", 146, 0, 1,
               "1:Cv4IKJe56BNkF0MBW2YxQ3Nwc3s="},
        Vector{46, "1.2.3.4", "5.6.7.8", 0, 0, 1, "1:/buhqeOmaRCopOZFy9HnoJd5XW8="},
        Vector{46, "5.6.7.8", "1.2.3.4", 0, 0, 1, "1:/buhqeOmaRCopOZFy9HnoJd5XW8="},
        Vector{46, "fe80:0001:0203:0405:0607:0809:0A0B:0C0D",
               "fe80:1011:1213:1415:1617:1819:1A1B:1C1D", 0, 0, 1,
               "1:j6EyyfBzL4vWKHFXgUqb5Az3OxM="},
        Vector{46, "fe80:1011:1213:1415:1617:1819:1A1B:1C1D",
               "fe80:0001:0203:0405:0607:0809:0A0B:0C0D", 0, 0, 1,
               "1:j6EyyfBzL4vWKHFXgUqb5Az3OxM="}));

// Source: github.com/corelight/community-id-spec, baseline/baseline_deflt.json and
// baseline_seed1.json (tuples from pcaps/combined.pcap.gz). Those files list ICMP as
// (type, counterpart type) for request/response types and (type, code) otherwise; the rows
// below give (type, code), with code 0 for the request/response types.
INSTANTIATE_TEST_SUITE_P(
    SpecPcaps, CommunityIdBaseline,
    ::testing::Values(
        Vector{58, "fe80::200:86ff:fe05:80da", "fe80::260:97ff:fe07:69ea", 135, 0, 0,
               "1:dGHyGvjMfljg6Bppwm3bg0LO8TY="},
        Vector{58, "fe80::260:97ff:fe07:69ea", "fe80::200:86ff:fe05:80da", 136, 0, 0,
               "1:dGHyGvjMfljg6Bppwm3bg0LO8TY="},
        Vector{58, "fe80::260:97ff:fe07:69ea", "fe80::200:86ff:fe05:80da", 135, 0, 0,
               "1:zavyT/cezQr1fmImYCwYnMXbgck="},
        Vector{58, "fe80::200:86ff:fe05:80da", "fe80::260:97ff:fe07:69ea", 136, 0, 0,
               "1:zavyT/cezQr1fmImYCwYnMXbgck="},
        Vector{58, "3ffe:501:1800:2345::2", "3ffe:507:0:1:200:86ff:fe05:80da", 3, 0, 0,
               "1:2ObVBgIn28oZvibYZhZMBgh7WdQ="},
        Vector{58, "3ffe:501:410:0:2c0:dfff:fe47:33e", "3ffe:507:0:1:200:86ff:fe05:80da", 1, 4, 0,
               "1:hLZd0XGWojozrvxqE0dWB1iM6R0="},
        Vector{58, "3ffe:507:0:1:200:86ff:fe05:80da", "3ffe:501:0:1001::2", 128, 0, 0,
               "1:+TW+HtLHvV1xnGhV1lv7XoJrqQg="},
        Vector{58, "3ffe:501:0:1001::2", "3ffe:507:0:1:200:86ff:fe05:80da", 129, 0, 0,
               "1:+TW+HtLHvV1xnGhV1lv7XoJrqQg="},
        Vector{58, "fe80::200:86ff:fe05:80da", "ff02::2", 133, 0, 0,
               "1:hO+sN4H+MG5MY/8hIrXPqc4ZQz0="},
        Vector{58, "fe80::260:97ff:fe07:69ea", "ff02::1", 134, 0, 0,
               "1:pkvHqCL88/tg1k4cPigmZXUtL00="},
        Vector{1, "192.168.0.89", "192.168.0.1", 8, 0, 0, "1:X0snYXpgwiv9TZtqg64sgzUn6Dk="},
        Vector{1, "192.168.0.1", "192.168.0.89", 0, 0, 0, "1:X0snYXpgwiv9TZtqg64sgzUn6Dk="},
        Vector{1, "10.0.0.1", "10.0.0.2", 11, 0, 0, "1:YHxtAirCG//0OzkcVAukqKQN9xM="},
        Vector{6, "2001:470:e5bf:dead:4957:2174:e82c:4887", "2607:f8b0:400c:c03::1a", 63943, 25, 0,
               "1:/qFaeAR+gFe1KYjMzVDsMv+wgU4="},
        Vector{6, "2607:f8b0:400c:c03::1a", "2001:470:e5bf:dead:4957:2174:e82c:4887", 25, 63943, 0,
               "1:/qFaeAR+gFe1KYjMzVDsMv+wgU4="},
        Vector{132, "192.168.170.8", "192.168.170.56", 7, 7, 0, "1:MP2EtRCAUIZvTw6MxJHLV7N7JDs="},
        Vector{132, "192.168.170.56", "192.168.170.8", 7, 7, 0, "1:MP2EtRCAUIZvTw6MxJHLV7N7JDs="},
        Vector{6, "128.232.110.120", "66.35.250.204", 34855, 80, 0,
               "1:LQU9qZlK+B5F3KDmev6m5PMibrg="},
        Vector{6, "66.35.250.204", "128.232.110.120", 80, 34855, 0,
               "1:LQU9qZlK+B5F3KDmev6m5PMibrg="},
        Vector{17, "192.168.1.52", "8.8.8.8", 54585, 53, 0, "1:d/FP5EW3wiY1vCndhwleRRKHowQ="},
        Vector{17, "8.8.8.8", "192.168.1.52", 53, 54585, 0, "1:d/FP5EW3wiY1vCndhwleRRKHowQ="},
        Vector{46, "10.1.12.1", "10.1.12.2", 0, 0, 0, "1:KHlLkgoJW7ifUTyTSgyVfkFHzKw="},
        Vector{46, "10.1.12.2", "10.1.12.1", 0, 0, 0, "1:KHlLkgoJW7ifUTyTSgyVfkFHzKw="},
        Vector{58, "fe80::200:86ff:fe05:80da", "fe80::260:97ff:fe07:69ea", 135, 0, 1,
               "1:kHa1FhMYIT6Ym2Vm2AOtoOARDzY="},
        Vector{58, "fe80::260:97ff:fe07:69ea", "fe80::200:86ff:fe05:80da", 136, 0, 1,
               "1:kHa1FhMYIT6Ym2Vm2AOtoOARDzY="},
        Vector{58, "fe80::260:97ff:fe07:69ea", "fe80::200:86ff:fe05:80da", 135, 0, 1,
               "1:2hSqmsDZ2kdcY9kbiUzOEBic0iM="},
        Vector{58, "fe80::200:86ff:fe05:80da", "fe80::260:97ff:fe07:69ea", 136, 0, 1,
               "1:2hSqmsDZ2kdcY9kbiUzOEBic0iM="},
        Vector{58, "3ffe:501:1800:2345::2", "3ffe:507:0:1:200:86ff:fe05:80da", 3, 0, 1,
               "1:lVEtCZpYu84Xqaa++3lXFyuu2n4="},
        Vector{58, "3ffe:501:410:0:2c0:dfff:fe47:33e", "3ffe:507:0:1:200:86ff:fe05:80da", 1, 4, 1,
               "1:W8MHwXpWzpoSTD+cGcaJr4u0ys8="},
        Vector{58, "3ffe:507:0:1:200:86ff:fe05:80da", "3ffe:501:0:1001::2", 128, 0, 1,
               "1:GfZxjAkDk2MkegpBYHV6tadtFXQ="},
        Vector{58, "3ffe:501:0:1001::2", "3ffe:507:0:1:200:86ff:fe05:80da", 129, 0, 1,
               "1:GfZxjAkDk2MkegpBYHV6tadtFXQ="},
        Vector{58, "fe80::200:86ff:fe05:80da", "ff02::2", 133, 0, 1,
               "1:L7Ka0ZMYu+J3bL4ulW2PrqyXNo8="},
        Vector{58, "fe80::260:97ff:fe07:69ea", "ff02::1", 134, 0, 1,
               "1:K/ee5UCqAMAQXDorP5nSa2CGLjc="},
        Vector{1, "192.168.0.89", "192.168.0.1", 8, 0, 1, "1:03g6IloqVBdcZlPyX8r0hgoE7kA="},
        Vector{1, "192.168.0.1", "192.168.0.89", 0, 0, 1, "1:03g6IloqVBdcZlPyX8r0hgoE7kA="},
        Vector{1, "10.0.0.1", "10.0.0.2", 11, 0, 1, "1:XjUibYHaafLQ3pxQeiMI8g25q20="},
        Vector{6, "2001:470:e5bf:dead:4957:2174:e82c:4887", "2607:f8b0:400c:c03::1a", 63943, 25, 1,
               "1:eJYTW6AOzFLlSUoESovMjnu7rMw="},
        Vector{6, "2607:f8b0:400c:c03::1a", "2001:470:e5bf:dead:4957:2174:e82c:4887", 25, 63943, 1,
               "1:eJYTW6AOzFLlSUoESovMjnu7rMw="},
        Vector{132, "192.168.170.8", "192.168.170.56", 7, 7, 1, "1:5w3ZRjeKBzqT3zsaEECDGjUbYeg="},
        Vector{132, "192.168.170.56", "192.168.170.8", 7, 7, 1, "1:5w3ZRjeKBzqT3zsaEECDGjUbYeg="},
        Vector{6, "128.232.110.120", "66.35.250.204", 34855, 80, 1,
               "1:3V71V58M3Ksw/yuFALMcW0LAHvc="},
        Vector{6, "66.35.250.204", "128.232.110.120", 80, 34855, 1,
               "1:3V71V58M3Ksw/yuFALMcW0LAHvc="},
        Vector{17, "192.168.1.52", "8.8.8.8", 54585, 53, 1, "1:Q9We8WO3piVF8yEQBNJF4uiSVrI="},
        Vector{17, "8.8.8.8", "192.168.1.52", 53, 54585, 1, "1:Q9We8WO3piVF8yEQBNJF4uiSVrI="},
        Vector{46, "10.1.12.1", "10.1.12.2", 0, 0, 1, "1:rYir8gphR31noO9iDRQmF/BteEI="},
        Vector{46, "10.1.12.2", "10.1.12.1", 0, 0, 1, "1:rYir8gphR31noO9iDRQmF/BteEI="}));

TEST(CommunityId, PortlessProtocolsIgnorePortFields) {
    core::Endpoints e =
        endpoints_of(Vector{46, "1.2.3.4", "5.6.7.8", 0, 0, 0, "1:ikv3kmf89luf73WPz1jOs49S768="});
    e.src_port = 1234;
    e.dest_port = 80;
    EXPECT_EQ(community_id_v1(e), "1:ikv3kmf89luf73WPz1jOs49S768=");
}

TEST(CommunityId, OneWayIcmpKeepsDirection) {
    const core::Endpoints out = endpoints_of(Vector{1, "1.2.3.4", "5.6.7.8", 11, 0, 0, ""});
    const core::Endpoints back = endpoints_of(Vector{1, "5.6.7.8", "1.2.3.4", 11, 0, 0, ""});
    EXPECT_NE(community_id_v1(out), community_id_v1(back));
}

}  // namespace
}  // namespace sensor::alert
