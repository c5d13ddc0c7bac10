#pragma once
// A minimal blocking HTTP/1.0 client for the metrics tests: one request per connection to a
// loopback port, the whole response read until the server closes.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <string>

namespace sensor::metrics::testing {

struct HttpReply {
    int status = 0;  // 0: no connection or no parsable status line
    std::string headers;
    std::string body;
};

inline HttpReply http_request(uint16_t port, const std::string& method, const std::string& path,
                              const std::string& extra_headers = "") {
    HttpReply reply;
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) {
        return reply;
    }
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) != 0) {
        ::close(fd);
        return reply;
    }
    std::string request =
        method + " " + path + " HTTP/1.0\r\nHost: 127.0.0.1\r\n" + extra_headers + "\r\n";
    size_t sent = 0;
    while (sent < request.size()) {
        ssize_t n = ::send(fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
        if (n <= 0) {
            ::close(fd);
            return reply;
        }
        sent += static_cast<size_t>(n);
    }
    std::string raw;
    char buf[4096];
    for (;;) {
        ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
        if (n <= 0) {
            break;
        }
        raw.append(buf, static_cast<size_t>(n));
    }
    ::close(fd);
    size_t split = raw.find("\r\n\r\n");
    if (raw.rfind("HTTP/1.", 0) != 0 || split == std::string::npos || raw.size() < 12) {
        return reply;
    }
    reply.status = std::stoi(raw.substr(9, 3));
    reply.headers = raw.substr(0, split);
    reply.body = raw.substr(split + 4);
    return reply;
}

inline HttpReply http_get(uint16_t port, const std::string& path,
                          const std::string& extra_headers = "") {
    return http_request(port, "GET", path, extra_headers);
}

}  // namespace sensor::metrics::testing
