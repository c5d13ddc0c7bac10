#include "sensor/core/ip_address.h"

#include <arpa/inet.h>

namespace sensor::core {

std::string IpAddress::to_string() const {
    char buf[INET6_ADDRSTRLEN] = {};
    if (inet_ntop(v6 ? AF_INET6 : AF_INET, bytes.data(), buf, sizeof(buf)) == nullptr) {
        return "?";
    }
    return buf;
}

}  // namespace sensor::core
