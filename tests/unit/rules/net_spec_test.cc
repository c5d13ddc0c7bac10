#include "rules/net_spec.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <string>

#include "rules/variables.h"

namespace sensor::rules {
namespace {

core::IpAddress ip(const std::string& text) {
    uint8_t buf[16] = {};
    if (text.find(':') != std::string::npos) {
        EXPECT_EQ(inet_pton(AF_INET6, text.c_str(), buf), 1) << text;
        return core::IpAddress::v6_from(buf);
    }
    EXPECT_EQ(inet_pton(AF_INET, text.c_str(), buf), 1) << text;
    return core::IpAddress::v4_from(buf);
}

AddressSpec address(const std::string& text, const GroupMap& groups = {}) {
    Variables vars(groups, {});
    auto spec = vars.parse_address(text);
    EXPECT_TRUE(spec.has_value()) << text << ": " << (spec ? "" : spec.error().message);
    return spec ? *spec : AddressSpec{};
}

PortSpec port(const std::string& text, const GroupMap& groups = {}) {
    Variables vars({}, groups);
    auto spec = vars.parse_port(text);
    EXPECT_TRUE(spec.has_value()) << text << ": " << (spec ? "" : spec.error().message);
    return spec ? *spec : PortSpec{};
}

TEST(IntervalSet, ComplementAndSubtractKeepRangesExact) {
    auto s = IntervalSet<uint16_t>::single(10, 20).unite(IntervalSet<uint16_t>::single(21, 30));
    ASSERT_EQ(s.ranges().size(), 1u);  // adjacent ranges merge
    EXPECT_EQ(s.ranges()[0].lo, 10);
    EXPECT_EQ(s.ranges()[0].hi, 30);
    auto c = s.complement();
    ASSERT_EQ(c.ranges().size(), 2u);
    EXPECT_EQ(c.ranges()[0].hi, 9);
    EXPECT_EQ(c.ranges()[1].lo, 31);
    EXPECT_EQ(c.ranges()[1].hi, 65535);
    EXPECT_TRUE(IntervalSet<uint16_t>::full().complement().empty());
    EXPECT_TRUE(IntervalSet<uint16_t>().complement().is_full());
    auto d = s.subtract(IntervalSet<uint16_t>::single(15, 25));
    EXPECT_TRUE(d.contains(14));
    EXPECT_FALSE(d.contains(15));
    EXPECT_FALSE(d.contains(25));
    EXPECT_TRUE(d.contains(26));
    EXPECT_FALSE(d.contains(31));
}

TEST(IntervalSet, U128CarriesAcrossHalves) {
    U128 v{1, ~uint64_t{0}};
    U128 next = IntervalTraits<U128>::next(v);
    EXPECT_EQ(next.hi, 2u);
    EXPECT_EQ(next.lo, 0u);
    EXPECT_TRUE(IntervalTraits<U128>::prev(next) == v);
}

TEST(AddressSpec, AnyMatchesBothFamilies) {
    auto a = address("any");
    EXPECT_TRUE(a.any);
    EXPECT_TRUE(a.matches(ip("1.2.3.4")));
    EXPECT_TRUE(a.matches(ip("2001:db8::1")));
}

TEST(AddressSpec, Ipv4CidrAndSingleHost) {
    auto a = address("10.1.2.3/8");  // host bits are masked off, as Suricata does
    EXPECT_TRUE(a.matches(ip("10.0.0.0")));
    EXPECT_TRUE(a.matches(ip("10.255.255.255")));
    EXPECT_FALSE(a.matches(ip("11.0.0.0")));
    EXPECT_FALSE(a.matches(ip("9.255.255.255")));
    EXPECT_FALSE(a.matches(ip("::a01:203")));  // an IPv4 spec never matches IPv6
    auto h = address("192.168.1.1");
    EXPECT_TRUE(h.matches(ip("192.168.1.1")));
    EXPECT_FALSE(h.matches(ip("192.168.1.2")));
}

TEST(AddressSpec, Ipv6Cidr) {
    auto a = address("2001:db8::/32");
    EXPECT_TRUE(a.matches(ip("2001:db8::1")));
    EXPECT_TRUE(a.matches(ip("2001:db8:ffff:ffff:ffff:ffff:ffff:ffff")));
    EXPECT_FALSE(a.matches(ip("2001:db9::")));
    EXPECT_FALSE(a.matches(ip("32.1.13.184")));
    auto b = address("2001:db8::8000:0/97");  // a prefix inside the low 64 bits
    EXPECT_TRUE(b.matches(ip("2001:db8::8000:0")));
    EXPECT_TRUE(b.matches(ip("2001:db8::ffff:ffff")));
    EXPECT_FALSE(b.matches(ip("2001:db8::7fff:ffff")));
    EXPECT_FALSE(b.matches(ip("2001:db8::1:8000:0")));
}

TEST(AddressSpec, ListWithNegatedItemSubtracts) {
    auto a = address("[10.0.0.0/8,!10.1.0.0/16]");
    EXPECT_TRUE(a.matches(ip("10.0.0.1")));
    EXPECT_TRUE(a.matches(ip("10.2.0.1")));
    EXPECT_FALSE(a.matches(ip("10.1.0.1")));
    EXPECT_FALSE(a.matches(ip("11.0.0.1")));
}

TEST(AddressSpec, ListOfOnlyNegationsStartsFromAny) {
    auto a = address("[!1.1.1.1, !2.2.2.2]");
    EXPECT_FALSE(a.matches(ip("1.1.1.1")));
    EXPECT_FALSE(a.matches(ip("2.2.2.2")));
    EXPECT_TRUE(a.matches(ip("3.3.3.3")));
    EXPECT_TRUE(a.matches(ip("::1")));
}

TEST(AddressSpec, NestedNegation) {
    auto a = address("[1.0.0.0/8,![1.1.0.0/16,!1.1.1.0/24]]");
    EXPECT_TRUE(a.matches(ip("1.2.0.1")));
    EXPECT_FALSE(a.matches(ip("1.1.2.1")));
    EXPECT_TRUE(a.matches(ip("1.1.1.1")));  // removed from the removed block
    EXPECT_FALSE(a.matches(ip("2.0.0.1")));
}

TEST(AddressSpec, DefaultExternalNetIsEverythingOutsideHomeNet) {
    auto a = address("$EXTERNAL_NET");
    EXPECT_FALSE(a.any);
    EXPECT_FALSE(a.matches(ip("192.168.1.1")));
    EXPECT_FALSE(a.matches(ip("10.9.9.9")));
    EXPECT_FALSE(a.matches(ip("172.16.0.1")));
    EXPECT_FALSE(a.matches(ip("172.31.255.255")));
    EXPECT_TRUE(a.matches(ip("172.32.0.0")));
    EXPECT_TRUE(a.matches(ip("8.8.8.8")));
    EXPECT_TRUE(a.matches(ip("2001:db8::1")));  // complement is taken in each family
}

TEST(AddressSpec, VariablesFollowOverrides) {
    GroupMap groups{{"HOME_NET", "[192.0.2.0/24, 2001:db8::/32]"}};
    auto home = address("$HOME_NET", groups);
    EXPECT_TRUE(home.matches(ip("192.0.2.7")));
    EXPECT_TRUE(home.matches(ip("2001:db8::7")));
    EXPECT_FALSE(home.matches(ip("10.0.0.1")));       // the default no longer applies
    auto servers = address("$HTTP_SERVERS", groups);  // defined as $HOME_NET
    EXPECT_TRUE(servers.matches(ip("192.0.2.7")));
    auto external = address("$EXTERNAL_NET", groups);
    EXPECT_TRUE(external.matches(ip("10.0.0.1")));
    EXPECT_FALSE(external.matches(ip("2001:db8::7")));
}

TEST(AddressSpec, RangeAndNetmaskForms) {
    auto r = address("1.2.3.4-1.2.3.10");
    EXPECT_FALSE(r.matches(ip("1.2.3.3")));
    EXPECT_TRUE(r.matches(ip("1.2.3.4")));
    EXPECT_TRUE(r.matches(ip("1.2.3.10")));
    EXPECT_FALSE(r.matches(ip("1.2.3.11")));
    auto m = address("10.0.0.0/255.255.0.0");
    EXPECT_TRUE(m.matches(ip("10.0.255.1")));
    EXPECT_FALSE(m.matches(ip("10.1.0.1")));
}

TEST(AddressSpec, ErrorsNameTheProblem) {
    Variables vars({{"A", "[$B]"}, {"B", "$A"}, {"BAD", "[1.2.3.4,foo]"}}, {});
    EXPECT_EQ(vars.parse_address("$A").error().message, "variable cycle $A -> $B -> $A");
    EXPECT_EQ(vars.parse_address("[1.1.1.1,$B]").error().message, "variable cycle $B -> $A -> $B");
    EXPECT_EQ(vars.parse_address("$BAD").error().message, "invalid address 'foo' in $BAD");
    EXPECT_EQ(vars.parse_address("!$NOPE").error().message, "undefined address variable $NOPE");
    EXPECT_EQ(vars.parse_address("!any").error().message, "address '!any' matches no address");
    EXPECT_EQ(vars.parse_address("[1.1.1.1").error().message,
              "missing ']' in address list '[1.1.1.1'");
    EXPECT_EQ(vars.parse_address("[1.1.1.1]]").error().message,
              "unexpected ']' in address '[1.1.1.1]]'");
    EXPECT_EQ(vars.parse_address("2001:db8::/129").error().message,
              "invalid prefix length in '2001:db8::/129'");
    EXPECT_EQ(vars.parse_address("10.0.0.0/255.0.255.0").error().message,
              "invalid prefix length in '10.0.0.0/255.0.255.0'");
}

TEST(PortSpec, SinglesListsAndRanges) {
    auto p = port("[80,443,8000:8080]");
    EXPECT_TRUE(p.matches(80));
    EXPECT_TRUE(p.matches(443));
    EXPECT_TRUE(p.matches(8000));
    EXPECT_TRUE(p.matches(8080));
    EXPECT_FALSE(p.matches(8081));
    EXPECT_FALSE(p.matches(81));
    auto open_end = port("1024:");
    EXPECT_FALSE(open_end.matches(1023));
    EXPECT_TRUE(open_end.matches(65535));
    auto open_start = port(":1023");
    EXPECT_TRUE(open_start.matches(0));
    EXPECT_FALSE(open_start.matches(1024));
    EXPECT_TRUE(port("any").any);
}

TEST(PortSpec, Negation) {
    auto p = port("!80");
    EXPECT_FALSE(p.matches(80));
    EXPECT_TRUE(p.matches(81));
    EXPECT_TRUE(p.matches(0));
    auto q = port("[1:100,!50]");
    EXPECT_TRUE(q.matches(49));
    EXPECT_FALSE(q.matches(50));
    EXPECT_FALSE(q.matches(101));
    auto r = port("![1:100,!50]");
    EXPECT_TRUE(r.matches(50));
    EXPECT_FALSE(r.matches(1));
    EXPECT_TRUE(r.matches(101));
}

TEST(PortSpec, DefaultVariables) {
    auto p = port("$FILE_DATA_PORTS");  // [$HTTP_PORTS,110,143]
    EXPECT_TRUE(p.matches(80));
    EXPECT_TRUE(p.matches(110));
    EXPECT_TRUE(p.matches(143));
    EXPECT_FALSE(p.matches(8080));
    auto s = port("$SHELLCODE_PORTS");
    EXPECT_FALSE(s.matches(80));
    EXPECT_TRUE(s.matches(4444));
    auto o = port("[$HTTP_PORTS,8080]", {{"HTTP_PORTS", "[80,81]"}});
    EXPECT_TRUE(o.matches(81));
    EXPECT_TRUE(o.matches(8080));
}

TEST(PortSpec, Errors) {
    Variables vars({}, {{"P", "$Q"}, {"Q", "$P"}});
    EXPECT_EQ(vars.parse_port("$P").error().message, "variable cycle $P -> $Q -> $P");
    EXPECT_EQ(vars.parse_port("$HOME_NET").error().message, "undefined port variable $HOME_NET");
    EXPECT_EQ(vars.parse_port("65536").error().message, "invalid port '65536'");
    EXPECT_EQ(vars.parse_port(":").error().message, "invalid port range ':'");
    EXPECT_EQ(vars.parse_port("!any").error().message, "port '!any' matches no port");
}

}  // namespace
}  // namespace sensor::rules
