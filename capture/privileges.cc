#include "capture/privileges.h"

#include <grp.h>
#include <pwd.h>
#include <unistd.h>

#include <cerrno>
#include <vector>

#include "sensor/core/errno_text.h"

namespace sensor::capture {

using core::errno_text;

namespace {

// getpwnam_r/getgrnam_r need a caller buffer whose size is only known by trying.
template <class Entry, class Lookup>
core::Result<bool> lookup(const std::string& name, Entry& entry, std::vector<char>& buffer,
                          Lookup fn) {
    buffer.resize(4096);
    for (;;) {
        Entry* found = nullptr;
        int rc = fn(name.c_str(), &entry, buffer.data(), buffer.size(), &found);
        if (rc == ERANGE && buffer.size() < (1u << 20)) {
            buffer.resize(buffer.size() * 2);
            continue;
        }
        if (rc != 0) {
            return core::make_error(errno_text(rc));
        }
        return found != nullptr;
    }
}

}  // namespace

core::Result<void> drop_privileges(const std::string& user, const std::string& group) {
    if (user.empty()) {
        return core::make_error("drop privileges: no user given");
    }
    passwd pw{};
    std::vector<char> pw_buffer;
    auto found_user = lookup(user, pw, pw_buffer, getpwnam_r);
    if (!found_user) {
        return core::make_error("user '" + user +
                                "': cannot look up: " + found_user.error().message);
    }
    if (!*found_user) {
        return core::make_error("user '" + user + "': no such user");
    }
    uid_t uid = pw.pw_uid;
    gid_t gid = pw.pw_gid;
    std::string group_name = group;
    if (!group.empty()) {
        struct group gr {};
        std::vector<char> gr_buffer;
        auto found_group = lookup(group, gr, gr_buffer, getgrnam_r);
        if (!found_group) {
            return core::make_error("group '" + group +
                                    "': cannot look up: " + found_group.error().message);
        }
        if (!*found_group) {
            return core::make_error("group '" + group + "': no such group");
        }
        gid = gr.gr_gid;
    } else {
        group_name = "gid " + std::to_string(gid);
    }

    if (geteuid() != 0) {
        uid_t ruid = 0;
        uid_t euid = 0;
        uid_t suid = 0;
        gid_t rgid = 0;
        gid_t egid = 0;
        gid_t sgid = 0;
        getresuid(&ruid, &euid, &suid);
        getresgid(&rgid, &egid, &sgid);
        if (ruid == uid && euid == uid && suid == uid && rgid == gid && egid == gid &&
            sgid == gid) {
            return {};
        }
        return core::make_error("user '" + user + "': cannot switch user: not running as root");
    }
    // Groups first: once the uid changes, the right to change them is gone.
    if (initgroups(user.c_str(), gid) != 0) {
        return core::make_error("user '" + user +
                                "': cannot set supplementary groups: " + errno_text(errno));
    }
    if (setresgid(gid, gid, gid) != 0) {
        return core::make_error("group '" + group_name +
                                "': cannot switch group: " + errno_text(errno));
    }
    if (setresuid(uid, uid, uid) != 0) {
        return core::make_error("user '" + user + "': cannot switch user: " + errno_text(errno));
    }

    uid_t ruid = 0;
    uid_t euid = 0;
    uid_t suid = 0;
    gid_t rgid = 0;
    gid_t egid = 0;
    gid_t sgid = 0;
    if (getresuid(&ruid, &euid, &suid) != 0 || getresgid(&rgid, &egid, &sgid) != 0 || ruid != uid ||
        euid != uid || suid != uid || rgid != gid || egid != gid || sgid != gid) {
        return core::make_error("user '" + user + "': ids did not change as asked");
    }
    if (uid != 0 && (setuid(0) == 0 || seteuid(0) == 0)) {
        return core::make_error("user '" + user + "': root could be regained after the switch");
    }
    return {};
}

}  // namespace sensor::capture
