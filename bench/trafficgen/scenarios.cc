#include "bench/trafficgen/scenarios.h"

#include <algorithm>
#include <array>
#include <string>
#include <string_view>
#include <vector>

#include "bench/trafficgen/packet_builder.h"
#include "bench/trafficgen/payloads.h"
#include "bench/trafficgen/tcp_session.h"

namespace sensor::trafficgen {
namespace {

constexpr int64_t kMs = 1000;
constexpr int64_t kSec = 1'000'000;

constexpr std::array<std::string_view, 4> kBrowserAgents = {
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36 Edg/120.0.2210.91",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:121.0) Gecko/20100101 Firefox/121.0",
    "Microsoft-CryptoAPI/10.0",
};
constexpr std::string_view kAcceptHtml =
    "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8";

struct Site {
    std::string_view name;
    core::IpAddress v4;
    core::IpAddress v6;  // unset (v6 == false) when the site has no IPv6 address
    bool http = false;
    bool https = false;
    std::string_view server;
};

const std::vector<Site>& sites() {
    static const std::vector<Site> kSites = [] {
        const core::IpAddress none;
        return std::vector<Site>{
            {"www.example.com", ipv4(198, 51, 100, 10), ipv6_doc(0x100, 0, 0x10), true, true,
             "nginx/1.24.0"},
            {"news.example.net", ipv4(198, 51, 100, 11), ipv6_doc(0x100, 0, 0x11), true, true,
             "nginx/1.24.0"},
            {"static.example.org", ipv4(198, 51, 100, 12), none, true, false,
             "Apache/2.4.58 (Debian)"},
            {"shop.example.com", ipv4(198, 51, 100, 14), none, false, true, "nginx/1.24.0"},
            {"cdn.example.net", ipv4(203, 0, 113, 30), ipv6_doc(0x203, 0, 0x30), true, true,
             "nginx/1.25.3"},
            {"api.example.org", ipv4(203, 0, 113, 31), none, false, true, "nginx/1.25.3"},
            {"mail.example.com", ipv4(203, 0, 113, 32), none, false, true, "nginx/1.24.0"},
            {"updates.example.net", ipv4(203, 0, 113, 33), none, true, true,
             "Apache/2.4.58 (Debian)"},
            {"docs.example.org", ipv4(203, 0, 113, 34), ipv6_doc(0x203, 0, 0x34), false, true,
             "nginx/1.24.0"},
            {"video.example.com", ipv4(203, 0, 113, 40), none, false, true, "nginx/1.25.3"},
            {"intranet.example.com", plan::web_server(), plan::web_server_v6(), true, false,
             "Apache/2.4.57 (Debian)"},
        };
    }();
    return kSites;
}

struct Client {
    core::IpAddress v4;
    core::IpAddress v6;  // dual-stack clients only
};

// Office workstations for benign traffic; the hosts used by the attack scenarios are left out
// so that tests can attribute every alert.
std::vector<Client> office_clients(Rng& rng) {
    std::vector<Client> clients;
    uint16_t v6_host = 0x100;
    while (clients.size() < 96) {
        const auto c = static_cast<uint8_t>(rng.between(1, 4));
        const auto d = static_cast<uint8_t>(rng.between(20, 250));
        const core::IpAddress ip = ipv4(10, 1, c, d);
        if (ip == ipv4(10, 1, 3, 41) || std::any_of(clients.begin(), clients.end(),
                                                    [&](const Client& x) { return x.v4 == ip; })) {
            continue;
        }
        Client client{ip, {}};
        if (rng.chance(0.25)) {
            client.v6 = ipv6_doc(1, 1, v6_host++);
        }
        clients.push_back(client);
    }
    return clients;
}

// Tap-to-peer-and-back times: a local host answers in well under a millisecond, an Internet
// host after a WAN round trip.
TcpPeer peer(const core::IpAddress& ip, uint16_t port, Rng& rng) {
    TcpPeer p;
    p.ip = ip;
    p.port = port;
    if (plan::is_internal(ip)) {
        p.turn_us = rng.between_i(150, 600);
        p.link_mbps = 1000;
    } else {
        p.turn_us = rng.between_i(12 * kMs, 90 * kMs);
        p.link_mbps = 100;
    }
    return p;
}

void emit_udp(Network& net, int64_t ts, const core::IpAddress& src, uint16_t sport,
              const core::IpAddress& dst, uint16_t dport, const Bytes& payload,
              uint32_t flow_label) {
    FrameSpec spec = net.spec(src, dst, kProtoUdp);
    spec.flow_label = flow_label;
    net.emit(ts, make_udp_frame(spec, sport, dport, payload));
}

// ---- benign ------------------------------------------------------------------------------

struct Resource {
    std::string path;
    std::string_view content_type;
    size_t size = 0;
    bool binary = false;
};

Resource pick_resource(Rng& rng, bool first) {
    Resource r;
    const uint64_t kind = first ? 0 : rng.between(0, 5);
    switch (kind) {
        case 0: {
            static constexpr std::array<std::string_view, 4> kPages = {
                "/", "/index.html", "/about.html", "/contact.html"};
            r.path =
                rng.chance(0.5)
                    ? std::string(rng.pick(std::span<const std::string_view>(kPages)))
                    : "/news/2026/01/story-" + std::to_string(rng.between(1000, 9999)) + ".html";
            r.content_type = "text/html; charset=utf-8";
            r.size = rng.between(1500, 45000);
            break;
        }
        case 1:
            r.path = "/css/site.css";
            r.content_type = "text/css";
            r.size = rng.between(2000, 18000);
            break;
        case 2:
            r.path = "/js/app." + std::to_string(rng.between(100000, 999999)) + ".js";
            r.content_type = "application/javascript";
            r.size = rng.between(4000, 120000);
            break;
        case 3:
        case 4:
            r.path = "/img/photo-" + std::to_string(rng.between(1, 500)) + ".png";
            r.content_type = "image/png";
            r.size = rng.between(800, 60000);
            r.binary = true;
            break;
        default:
            r.path = "/api/v1/status";
            r.content_type = "application/json";
            r.size = rng.between(100, 2000);
            break;
    }
    return r;
}

void close_randomly(TcpSession& s, Rng& rng) {
    const uint64_t how = rng.between(0, 19);
    if (how < 14) {
        s.close(Side::kClient, rng.between_i(200 * kMs, 5 * kSec));
    } else if (how < 17) {
        s.close(Side::kServer, 5 * kSec);  // keep-alive timeout
    } else {
        s.reset(Side::kClient, rng.between_i(100 * kMs, 2 * kSec));
    }
}

void benign_http(Network& net, Rng& rng, int64_t t, const Client& client, const Site& site,
                 bool v6) {
    const core::IpAddress cip = v6 ? client.v6 : client.v4;
    const core::IpAddress sip = v6 ? site.v6 : site.v4;
    const uint16_t cport = net.ephemeral_port(kProtoTcp, cip, sip, 80);
    TcpSession s(net, rng, peer(cip, cport, rng), peer(sip, 80, rng), t);
    s.connect();
    const std::string_view agent =
        rng.pick(std::span<const std::string_view>(kBrowserAgents).first(3));
    const int requests = static_cast<int>(rng.between(1, 3));
    for (int i = 0; i < requests; ++i) {
        const Resource res = pick_resource(rng, i == 0);
        HttpRequest req;
        req.uri = res.path;
        req.host = std::string(site.name);
        req.user_agent = std::string(agent);
        req.accept = i == 0 ? std::string(kAcceptHtml) : "*/*";
        if (i != 0) {
            req.extra_headers = "Referer: http://" + req.host + "/\r\n";
        }
        s.send(Side::kClient, to_bytes(format_request(req)),
               {.think_us = i == 0 ? rng.between_i(0, 2 * kMs) : rng.between_i(50 * kMs, 800 * kMs),
                .reply_follows = true});
        const Bytes body =
            res.binary ? binary_body(rng, res.size) : text_body(rng, res.content_type, res.size);
        Bytes response = to_bytes(format_response_head(
            200, "OK", site.server, res.content_type, body.size(), s.now(),
            "Cache-Control: max-age=3600\r\nLast-Modified: Fri, 02 Jan 2026 14:21:07 GMT\r\n"));
        response.insert(response.end(), body.begin(), body.end());
        s.send(Side::kServer, response, {.think_us = rng.between_i(1 * kMs, 30 * kMs)});
    }
    close_randomly(s, rng);
}

void benign_tls(Network& net, Rng& rng, int64_t t, const Client& client, const Site& site) {
    const uint16_t cport = net.ephemeral_port(kProtoTcp, client.v4, site.v4, 443);
    TcpSession s(net, rng, peer(client.v4, cport, rng), peer(site.v4, 443, rng), t);
    s.connect();
    const bool tls13 = rng.chance(0.6);
    std::array<uint8_t, 32> session_id{};
    rng.fill(session_id);
    s.send(Side::kClient, tls_client_hello(rng, site.name, session_id),
           {.think_us = rng.between_i(0, 1 * kMs), .reply_follows = true});

    Bytes flight = tls_server_hello(rng, tls13, session_id);
    const Bytes ccs = tls_change_cipher_spec();
    flight.insert(flight.end(), ccs.begin(), ccs.end());
    // TLS 1.3 hides EncryptedExtensions..Finished in application data records; a resumed
    // TLS 1.2 session sends only its encrypted Finished.
    const Bytes rest = tls13 ? tls_encrypted_record(rng, 23, rng.between(2500, 4800))
                             : tls_encrypted_record(rng, 22, 40);
    flight.insert(flight.end(), rest.begin(), rest.end());
    s.send(Side::kServer, flight, {.think_us = rng.between_i(1 * kMs, 10 * kMs)});

    Bytes finish = tls_change_cipher_spec();
    const Bytes fin_record =
        tls13 ? tls_encrypted_record(rng, 23, 53) : tls_encrypted_record(rng, 22, 40);
    finish.insert(finish.end(), fin_record.begin(), fin_record.end());
    const int rounds = static_cast<int>(rng.between(1, 4));
    for (int i = 0; i < rounds; ++i) {
        Bytes request = i == 0 ? finish : Bytes{};
        const Bytes app = tls_encrypted_record(rng, 23, rng.between(200, 700));
        request.insert(request.end(), app.begin(), app.end());
        s.send(Side::kClient, request,
               {.think_us = i == 0 ? rng.between_i(0, 2 * kMs) : rng.between_i(100 * kMs, 3 * kSec),
                .reply_follows = true});
        Bytes response;
        if (i == 0 && tls13) {
            for (int k = 0; k < 2; ++k) {  // NewSessionTicket x2
                const Bytes ticket = tls_encrypted_record(rng, 23, 250);
                response.insert(response.end(), ticket.begin(), ticket.end());
            }
        }
        size_t left = rng.between(300, 60000);
        while (left > 0) {
            const size_t n = std::min<size_t>(left, 16384);
            const Bytes rec = tls_encrypted_record(rng, 23, n + 17);
            response.insert(response.end(), rec.begin(), rec.end());
            left -= n;
        }
        s.send(Side::kServer, response, {.think_us = rng.between_i(2 * kMs, 40 * kMs)});
    }
    const Bytes alert =
        tls13 ? tls_encrypted_record(rng, 23, 19) : tls_encrypted_record(rng, 21, 26);
    if (rng.chance(0.8)) {
        s.send(Side::kClient, alert,
               {.think_us = rng.between_i(500 * kMs, 4 * kSec), .reply_follows = true});
        s.close(Side::kClient, 0);
    } else {
        s.reset(Side::kClient, rng.between_i(500 * kMs, 4 * kSec));
    }
}

DnsAnswer answer_for(const Site& site, uint16_t qtype, uint32_t ttl) {
    DnsAnswer a;
    a.type = qtype;
    a.ttl = ttl;
    const core::IpAddress& ip = qtype == 28 ? site.v6 : site.v4;
    a.rdata.assign(ip.bytes.begin(), ip.bytes.begin() + static_cast<std::ptrdiff_t>(ip.size()));
    return a;
}

// Returns whether the resolver had to ask upstream.
bool benign_dns(Network& net, Rng& rng, int64_t t, const Client& client, const Site& site,
                bool v6) {
    const core::IpAddress cip = v6 ? client.v6 : client.v4;
    const core::IpAddress resolver = v6 ? plan::dns_resolver_v6() : plan::dns_resolver();
    const uint16_t qtype = rng.chance(0.35) ? 28 : 1;
    const uint16_t cport = net.ephemeral_port(kProtoUdp, cip, resolver, 53);
    const auto id = static_cast<uint16_t>(rng.next());
    const auto label = static_cast<uint32_t>(rng.next() & 0xfffff);
    emit_udp(net, t, cip, cport, resolver, 53, dns_query(id, site.name, qtype, false), label);

    bool asked_upstream = false;
    std::vector<DnsAnswer> answers;
    const auto ttl = static_cast<uint32_t>(rng.between(60, 3600));
    if (qtype == 1 || site.v6.v6) {
        answers.push_back(answer_for(site, qtype, ttl));
    }
    int64_t answer_at = t + rng.between_i(120, 400);
    const bool local_zone = plan::is_internal(site.v4);
    if (!local_zone && rng.chance(0.45)) {  // cache miss: ask upstream
        const core::IpAddress upstream = plan::upstream_resolver();
        uint16_t uport = 0;
        do {
            uport = static_cast<uint16_t>(rng.between(1024, 65535));
        } while (!net.claim(kProtoUdp, plan::dns_resolver(), uport, upstream, 53));
        const auto uid = static_cast<uint16_t>(rng.next());
        const int64_t up_at = t + rng.between_i(80, 200);
        emit_udp(net, up_at, plan::dns_resolver(), uport, upstream, 53,
                 dns_query(uid, site.name, qtype, true), 0);
        const int64_t back_at = up_at + rng.between_i(8 * kMs, 40 * kMs);
        emit_udp(net, back_at, upstream, 53, plan::dns_resolver(), uport,
                 dns_response(uid, site.name, qtype, answers, true), 0);
        answer_at = back_at + rng.between_i(60, 200);
        asked_upstream = true;
    }
    emit_udp(net, answer_at, resolver, 53, cip, cport,
             dns_response(id, site.name, qtype, answers, false), label);
    return asked_upstream;
}

void benign_ping(Network& net, Rng& rng, int64_t t, std::span<const Client> clients) {
    static const std::array<core::IpAddress, 7> kTargets = {
        plan::office_gateway(), plan::dns_resolver(),  plan::web_server(),
        ipv4(198, 51, 100, 10), ipv4(203, 0, 113, 30), ipv4(203, 0, 113, 40),
        ipv4(198, 51, 100, 53)};
    // One echo session per address pair, so the flow count does not depend on whether a
    // flow key includes the ICMP identifier.
    core::IpAddress src;
    core::IpAddress dst;
    do {
        src = rng.pick(clients).v4;
        dst = rng.pick(std::span<const core::IpAddress>(kTargets));
    } while (!net.claim(kProtoIcmp, src, 0, dst, 0));
    static constexpr std::string_view kWindowsPingData = "abcdefghijklmnopqrstuvwabcdefghi";
    const Bytes data = to_bytes(kWindowsPingData);
    const int64_t rtt =
        plan::is_internal(dst) ? rng.between_i(150, 500) : rng.between_i(12 * kMs, 90 * kMs);
    for (int i = 0; i < 4; ++i) {
        const int64_t at = t + i * kSec + rng.between_i(0, 3 * kMs);
        const uint16_t seq = net.host(src).icmp_seq++;
        net.emit(at, make_icmp_echo_frame(net.spec(src, dst, kProtoIcmp), false, 1, seq, data));
        net.emit(at + rtt + rng.between_i(0, 300),
                 make_icmp_echo_frame(net.spec(dst, src, kProtoIcmp), true, 1, seq, data));
    }
}

void benign_modbus_poll(Network& net, Rng& rng, int64_t t) {
    const core::IpAddress hmi = plan::hmi();
    const core::IpAddress plc = plan::plc();
    const uint16_t cport = net.ephemeral_port(kProtoTcp, hmi, plc, 502);
    TcpPeer plc_peer = peer(plc, 502, rng);
    plc_peer.turn_us = rng.between_i(2 * kMs, 8 * kMs);  // PLC scan cycle
    TcpSession s(net, rng, peer(hmi, cport, rng), plc_peer, t);
    s.connect();
    struct Block {
        uint16_t addr;
        uint16_t count;
    };
    static constexpr std::array<Block, 4> kBlocks = {{{0, 10}, {100, 20}, {200, 4}, {1000, 16}}};
    std::array<uint16_t, 1024 + 16> registers{};
    for (uint16_t& r : registers) {
        r = static_cast<uint16_t>(rng.between(0, 4000));
    }
    auto tid = static_cast<uint16_t>(rng.next());
    const int polls = static_cast<int>(rng.between(8, 30));
    int64_t next_poll = s.now() + rng.between_i(5 * kMs, 50 * kMs);
    for (int i = 0; i < polls; ++i) {
        const Block& b = kBlocks[static_cast<size_t>(i) % kBlocks.size()];
        s.send(Side::kClient, modbus_read_holding(tid, 1, b.addr, b.count),
               {.not_before_us = next_poll, .reply_follows = true});
        std::vector<uint16_t> values(b.count);
        for (uint16_t k = 0; k < b.count; ++k) {
            uint16_t& r = registers[b.addr + k];
            r = static_cast<uint16_t>(r + rng.between(0, 6) - 3);
            values[k] = r;
        }
        s.send(Side::kServer, modbus_read_holding_reply(tid, 1, values));
        ++tid;
        next_poll += 1000 * kMs + rng.between_i(-20 * kMs, 20 * kMs);
    }
    s.close(Side::kClient, rng.between_i(100 * kMs, 900 * kMs));
}

// ---- attacks -----------------------------------------------------------------------------

constexpr std::string_view kAttackServer = "nginx/1.18.0";

void c2_beacon(Network& net, Rng& rng, int64_t t, int seq, bool split, Tally& tally) {
    const core::IpAddress victim = ipv4(10, 1, 7, 23);
    const core::IpAddress c2 = ipv4(203, 0, 113, 66);
    const uint16_t cport = net.ephemeral_port(kProtoTcp, victim, c2, 80);
    TcpSession s(net, rng, peer(victim, cport, rng), peer(c2, 80, rng), t);
    s.connect();
    HttpRequest req;
    req.method = "POST";
    req.uri = "/gate.php";
    req.host = "cdn-sync.example.net";
    req.user_agent = std::string(kC2UserAgent);
    req.extra_headers = "Content-Type: application/x-www-form-urlencoded\r\n";
    req.body = "id=7f3a9c21e4b06d58&seq=" + std::to_string(seq) + "&os=win7-x64&st=idle";
    const std::string text = format_request(req);
    if (split) {
        // Cut inside "NightOwlBot" so that no single segment holds the rule's content, and
        // the second segment reaches the tap first: only a sensor that puts the stream back
        // in order sees the name.
        const size_t cut = text.find("NightOwlBot") + 5;
        const std::array<size_t, 1> cuts = {cut};
        s.send(Side::kClient, to_bytes(text),
               {.cuts = cuts, .reply_follows = true, .swap_first_two = true});
        ++tally.c2_split_beacons;
    } else {
        s.send(Side::kClient, to_bytes(text), {.reply_follows = true});
        ++tally.c2_beacons;
    }
    const std::string_view task = "dGFzaz1zbGVlcDt0PTYw";
    std::string response =
        format_response_head(200, "OK", kAttackServer, "text/plain", task.size(), s.now());
    response += task;
    s.send(Side::kServer, to_bytes(response), {.think_us = rng.between_i(2 * kMs, 6 * kMs)});
    s.close(Side::kClient, rng.between_i(1 * kMs, 5 * kMs));
}

}  // namespace

void add_benign(Network& net, Rng& rng, int64_t start_us, uint32_t sessions, Tally& tally) {
    Rng pool_rng = rng.fork(1);
    const std::vector<Client> clients = office_clients(pool_rng);
    std::vector<int64_t> starts(sessions);
    for (int64_t& t : starts) {
        t = start_us + rng.between_i(0, (kBenignSpanS - 40) * kSec);
    }
    std::sort(starts.begin(), starts.end());
    std::vector<const Site*> web;
    std::vector<const Site*> tls;
    for (const Site& site : sites()) {
        if (site.http) {
            web.push_back(&site);
        }
        if (site.https) {
            tls.push_back(&site);
        }
    }
    for (const int64_t t : starts) {
        const uint64_t kind = rng.between(0, 99);
        const Client& client = rng.pick(std::span<const Client>(clients));
        if (kind < 30) {
            const Site& site = *rng.pick(std::span<const Site* const>(web));
            const bool v6 = client.v6.v6 && site.v6.v6 && rng.chance(0.7);
            benign_http(net, rng, t, client, site, v6);
            ++tally.benign_http;
        } else if (kind < 60) {
            benign_tls(net, rng, t, client, *rng.pick(std::span<const Site* const>(tls)));
            ++tally.benign_tls;
        } else if (kind < 85) {
            const Site& site = rng.pick(std::span<const Site>(sites()));
            if (benign_dns(net, rng, t, client, site, client.v6.v6 && rng.chance(0.6))) {
                ++tally.benign_dns_upstream;
            }
            ++tally.benign_dns;
        } else if (kind < 93) {
            benign_modbus_poll(net, rng, t);
            ++tally.benign_modbus;
        } else {
            benign_ping(net, rng, t, clients);
            ++tally.benign_ping;
        }
        ++tally.benign_sessions;
    }
}

void add_eicar(Network& net, Rng& rng, int64_t start_us, Tally& tally) {
    const core::IpAddress client = ipv4(10, 1, 3, 41);
    const core::IpAddress server = ipv4(198, 51, 100, 20);
    const uint16_t cport = net.ephemeral_port(kProtoTcp, client, server, 80);
    TcpSession s(net, rng, peer(client, cport, rng), peer(server, 80, rng),
                 start_us + kEicarAtS * kSec);
    s.connect();
    HttpRequest req;
    req.uri = "/files/eicar.com";
    req.host = "198.51.100.20";
    req.user_agent = std::string(kBrowserAgents[0]);
    req.accept = std::string(kAcceptHtml);
    s.send(Side::kClient, to_bytes(format_request(req)), {.reply_follows = true});
    // Head and the 68-byte body fit one segment: the test file never crosses a boundary.
    std::string response = format_response_head(
        200, "OK", "Apache/2.4.41 (Ubuntu)", "application/octet-stream", kEicar.size(), s.now(),
        "Content-Disposition: attachment; filename=\"eicar.com\"\r\n");
    response += kEicar;
    s.send(Side::kServer, to_bytes(response), {.think_us = rng.between_i(1 * kMs, 5 * kMs)});
    s.close(Side::kClient, rng.between_i(300 * kMs, 2 * kSec));
    ++tally.eicar_downloads;
}

void add_c2(Network& net, Rng& rng, int64_t start_us, Tally& tally) {
    for (int i = 0; i < kC2Beacons; ++i) {
        const int64_t at =
            start_us + (kC2FirstAtS + i * kC2IntervalS) * kSec + rng.between_i(0, 40 * kMs);
        c2_beacon(net, rng, at, i + 1, false, tally);
    }
}

void add_split(Network& net, Rng& rng, int64_t start_us, Tally& tally) {
    c2_beacon(net, rng, start_us + kSplitAtS * kSec + rng.between_i(0, 40 * kMs), kC2Beacons + 1,
              true, tally);
}

void add_sqli(Network& net, Rng& rng, int64_t start_us, Tally& tally) {
    const core::IpAddress attacker = ipv4(198, 51, 100, 77);
    const core::IpAddress server = plan::web_server();
    int64_t t = start_us + kSqliAtS * kSec;
    for (int i = 0; i < kSqliRequests; ++i) {
        const uint16_t cport = net.ephemeral_port(kProtoTcp, attacker, server, 80);
        TcpSession s(net, rng, peer(attacker, cport, rng), peer(server, 80, rng), t);
        s.connect();
        HttpRequest req;
        req.uri = std::string(kSqliUri);
        req.host = "intranet.example.com";
        req.user_agent = "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0";
        s.send(Side::kClient, to_bytes(format_request(req)), {.reply_follows = true});
        const std::string_view body =
            "<html><head><title>500 Internal Server Error</title></head><body>"
            "<h1>Internal Server Error</h1><p>The server encountered an internal error.</p>"
            "</body></html>\n";
        std::string response =
            format_response_head(500, "Internal Server Error", "Apache/2.4.57 (Debian)",
                                 "text/html; charset=iso-8859-1", body.size(), s.now());
        response += body;
        s.send(Side::kServer, to_bytes(response), {.think_us = rng.between_i(3 * kMs, 12 * kMs)});
        s.close(Side::kServer, rng.between_i(1 * kMs, 3 * kMs));
        ++tally.sqli_requests;
        t = s.now() + rng.between_i(5 * kSec, 9 * kSec);
    }
}

void add_modbus_write(Network& net, Rng& rng, int64_t start_us, Tally& tally) {
    const core::IpAddress rogue = ipv4(10, 1, 5, 77);
    const core::IpAddress plc = plan::plc();
    const uint16_t cport = net.ephemeral_port(kProtoTcp, rogue, plc, 502);
    TcpPeer plc_peer = peer(plc, 502, rng);
    plc_peer.turn_us = rng.between_i(2 * kMs, 8 * kMs);
    TcpSession s(net, rng, peer(rogue, cport, rng), plc_peer, start_us + kModbusWriteAtS * kSec);
    s.connect();
    auto tid = static_cast<uint16_t>(rng.between(1, 100));
    // Two setpoint changes (function 6), then a block write (function 16); each request is
    // alone at the start of its segment, so the function code sits at payload offset 7.
    const std::array<std::array<uint16_t, 2>, 2> singles = {{{40, 1500}, {41, 0}}};
    for (const auto& [addr, value] : singles) {
        s.send(Side::kClient, modbus_write_single(tid, 1, addr, value),
               {.think_us = rng.between_i(1500 * kMs, 2500 * kMs), .reply_follows = true});
        s.send(Side::kServer, modbus_write_single(tid, 1, addr, value));
        ++tid;
        ++tally.modbus_write_single;
    }
    const std::array<uint16_t, 4> block = {0, 0, 9999, 1};
    s.send(Side::kClient, modbus_write_multiple(tid, 1, 100, block),
           {.think_us = rng.between_i(1500 * kMs, 2500 * kMs), .reply_follows = true});
    s.send(Side::kServer, modbus_write_multiple_reply(tid, 1, 100, block.size()));
    ++tally.modbus_write_multiple;
    s.close(Side::kClient, rng.between_i(200 * kMs, 800 * kMs));
}

void add_portscan(Network& net, Rng& rng, int64_t start_us, Tally& tally) {
    const core::IpAddress scanner = ipv4(198, 51, 100, 66);
    const core::IpAddress target = plan::plc();
    std::vector<uint16_t> ports = {21,   22,   23,   25,  53,    80,    110,   111,  135,  139,
                                   143,  443,  445,  502, 993,   995,   1433,  1723, 3306, 3389,
                                   5900, 8080, 8443, 102, 20000, 44818, 47808, 2404, 1911, 4840};
    for (uint16_t p = 1000; ports.size() < kPortscanPorts; p = static_cast<uint16_t>(p + 37)) {
        if (std::find(ports.begin(), ports.end(), p) == ports.end()) {
            ports.push_back(p);
        }
    }
    for (size_t i = ports.size() - 1; i > 0; --i) {
        std::swap(ports[i], ports[static_cast<size_t>(rng.between(0, i))]);
    }
    const auto sport = static_cast<uint16_t>(rng.between(40000, 60000));
    static constexpr std::array<uint8_t, 4> kMssOption = {2, 4, 0x05, 0xb4};
    const int64_t t0 = start_us + kPortscanAtS * kSec;
    const int64_t scanner_rtt = rng.between_i(20 * kMs, 60 * kMs);
    for (size_t i = 0; i < ports.size(); ++i) {
        const uint16_t port = ports[i];
        net.claim(kProtoTcp, scanner, sport, target, port);
        const int64_t at = t0 + static_cast<int64_t>(i) * 28 * kMs + rng.between_i(0, 2 * kMs);
        const auto seq = static_cast<uint32_t>(rng.next());
        TcpHeader syn{sport, port, seq, 0, kSyn, 1024, kMssOption};
        net.emit(at, make_tcp_frame(net.spec(scanner, target, kProtoTcp), syn, {}));
        const int64_t answer_at = at + rng.between_i(300, 900);
        if (port == 502 || port == 80) {
            TcpHeader synack{port,      sport,       static_cast<uint32_t>(rng.next()),
                             seq + 1,   kSyn | kAck, 8192,
                             kMssOption};
            net.emit(answer_at, make_tcp_frame(net.spec(target, scanner, kProtoTcp), synack, {}));
            TcpHeader rst{sport, port, seq + 1, 0, kRst, 0, {}};
            net.emit(answer_at + scanner_rtt,
                     make_tcp_frame(net.spec(scanner, target, kProtoTcp), rst, {}));
        } else {
            TcpHeader rst{port, sport, 0, seq + 1, kRst | kAck, 0, {}};
            net.emit(answer_at, make_tcp_frame(net.spec(target, scanner, kProtoTcp), rst, {}));
        }
        ++tally.portscan_ports;
    }
}

void add_synflood(Network& net, Rng& rng, int64_t start_us, Tally& tally) {
    const core::IpAddress target = plan::web_server();
    static constexpr std::array<uint8_t, 4> kMssOption = {2, 4, 0x05, 0xb4};
    const int64_t t0 = start_us + kSynfloodAtS * kSec;
    for (int i = 0; i < kSynfloodSyns; ++i) {
        core::IpAddress src;
        uint16_t sport = 0;
        do {
            src = ipv4(203, 0, 113, static_cast<uint8_t>(rng.between(1, 254)));
            sport = static_cast<uint16_t>(rng.between(1024, 65535));
        } while (!net.claim(kProtoTcp, src, sport, target, 80));
        // Spoofed: the flood tool sets TTL, IP id and sequence at random and sends no options.
        FrameSpec spec = net.spec(src, target, kProtoTcp);
        spec.ttl = static_cast<uint8_t>(rng.between(38, 60));
        spec.ip_id = static_cast<uint16_t>(rng.next());
        spec.dont_fragment = false;
        const auto seq = static_cast<uint32_t>(rng.next());
        const int64_t at = t0 + i * kMs + rng.between_i(0, 900);
        TcpHeader syn{sport, 80, seq, 0, kSyn, 512, {}};
        net.emit(at, make_tcp_frame(spec, syn, {}));
        ++tally.synflood_syns;
        if (i < kSynfloodBacklog) {
            TcpHeader synack{80,        sport,       static_cast<uint32_t>(rng.next()),
                             seq + 1,   kSyn | kAck, 65160,
                             kMssOption};
            net.emit(at + rng.between_i(40, 150),
                     make_tcp_frame(net.spec(target, src, kProtoTcp), synack, {}));
            ++tally.synflood_synacks;
        }
    }
}

}  // namespace sensor::trafficgen
