#include "capture/interface_offloads.h"

#include <linux/ethtool.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>

#include "sensor/core/errno_text.h"

namespace sensor::capture {

using core::errno_text;

namespace {

// One offload and the legacy ethtool commands that read and set it. LRO has no command of its
// own: it is a bit of the device flags.
struct OffloadField {
    const char* name;
    bool OffloadState::*member;
    uint32_t get_cmd;
    uint32_t set_cmd;
};

constexpr std::array<OffloadField, 4> kFields = {{
    {"tso", &OffloadState::tso, ETHTOOL_GTSO, ETHTOOL_STSO},
    {"gso", &OffloadState::gso, ETHTOOL_GGSO, ETHTOOL_SGSO},
    {"gro", &OffloadState::gro, ETHTOOL_GGRO, ETHTOOL_SGRO},
    {"lro", &OffloadState::lro, ETHTOOL_GFLAGS, ETHTOOL_SFLAGS},
}};

class ControlSocket {
public:
    ControlSocket()
        : fd_(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0)), open_error_(fd_ < 0 ? errno : 0) {}
    ~ControlSocket() {
        if (fd_ >= 0) {
            close(fd_);
        }
    }
    ControlSocket(const ControlSocket&) = delete;
    ControlSocket& operator=(const ControlSocket&) = delete;
    int fd() const { return fd_; }
    int open_error() const { return open_error_; }

    // Runs one ethtool command on iface; returns 0 or the errno.
    int ethtool(const std::string& iface, ethtool_value& value) const {
        ifreq request{};
        std::memcpy(request.ifr_name, iface.c_str(), iface.size());
        request.ifr_data = reinterpret_cast<char*>(&value);  // the kernel's ABI for SIOCETHTOOL
        return ioctl(fd_, SIOCETHTOOL, &request) == 0 ? 0 : errno;
    }

private:
    int fd_;
    int open_error_;
};

// Whether control can run ethtool commands on iface; `purpose` says what for in the error.
core::Result<void> check_usable(const ControlSocket& control, const std::string& iface,
                                const char* purpose) {
    if (iface.empty() || iface.size() >= IFNAMSIZ) {
        return core::make_error("'" + iface + "': not an interface name");
    }
    if (control.fd() < 0) {
        return core::make_error(iface + ": cannot open a socket to " + purpose +
                                " offloads: " + errno_text(control.open_error()));
    }
    return {};
}

core::Result<OffloadState> read_with(const ControlSocket& control, const std::string& iface) {
    OffloadState state;
    for (const OffloadField& field : kFields) {
        ethtool_value value{};
        value.cmd = field.get_cmd;
        if (int err = control.ethtool(iface, value); err != 0) {
            return core::make_error(iface + ": cannot read offload " + field.name + ": " +
                                    errno_text(err));
        }
        state.*field.member =
            field.get_cmd == ETHTOOL_GFLAGS ? (value.data & ETH_FLAG_LRO) != 0 : value.data != 0;
    }
    return state;
}

}  // namespace

std::string OffloadState::names() const {
    std::string out;
    for (const OffloadField& field : kFields) {
        if (this->*field.member) {
            out += out.empty() ? "" : ", ";
            out += field.name;
        }
    }
    return out;
}

std::string OffloadState::ethtool_command(const std::string& iface, bool on) const {
    std::string out = "ethtool -K " + iface;
    for (const OffloadField& field : kFields) {
        if (this->*field.member) {
            out += std::string(" ") + field.name + (on ? " on" : " off");
        }
    }
    return out;
}

core::Result<OffloadState> read_offloads(const std::string& iface) {
    ControlSocket control;
    if (auto usable = check_usable(control, iface, "read"); !usable) {
        return tl::unexpected(usable.error());
    }
    return read_with(control, iface);
}

core::Result<void> write_offloads(const std::string& iface, const OffloadState& wanted) {
    ControlSocket control;
    if (auto usable = check_usable(control, iface, "change"); !usable) {
        return tl::unexpected(usable.error());
    }
    auto current = read_with(control, iface);
    if (!current) {
        return tl::unexpected(current.error());
    }
    std::string changed;
    auto failed = [&](const char* name, bool on, const std::string& why) {
        return core::make_error(iface + ": cannot turn " + name + (on ? " on: " : " off: ") + why +
                                (changed.empty() ? "" : " (" + changed + " changed)"));
    };
    for (const OffloadField& field : kFields) {
        const bool want = wanted.*field.member;
        if ((*current).*field.member == want) {
            continue;
        }
        ethtool_value value{};
        if (field.set_cmd == ETHTOOL_SFLAGS) {
            // The other flags (VLAN and hashing offloads) keep their values.
            value.cmd = ETHTOOL_GFLAGS;
            if (int err = control.ethtool(iface, value); err != 0) {
                return failed(field.name, want, errno_text(err));
            }
            value.data = want ? value.data | ETH_FLAG_LRO : value.data & ~uint32_t{ETH_FLAG_LRO};
        } else {
            value.data = want ? 1 : 0;
        }
        value.cmd = field.set_cmd;
        if (int err = control.ethtool(iface, value); err != 0) {
            return failed(field.name, want, errno_text(err));
        }
        changed += changed.empty() ? field.name : std::string(", ") + field.name;
    }
    // A driver may accept the request and keep the feature (it depends on another one).
    auto after = read_with(control, iface);
    if (!after) {
        return tl::unexpected(after.error());
    }
    for (const OffloadField& field : kFields) {
        if ((*after).*field.member != wanted.*field.member) {
            return failed(field.name, wanted.*field.member, "the driver kept it");
        }
    }
    return {};
}

}  // namespace sensor::capture
