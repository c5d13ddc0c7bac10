// drop_privileges: lookups fail with the name in the message; as root, a child process
// switches to nobody for good and loses the right to open packet sockets.
#include <gtest/gtest.h>
#include <pwd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <string>

#include "capture/privileges.h"

namespace sensor::capture {
namespace {

TEST(DropPrivileges, UnknownUserIsNamed) {
    auto result = drop_privileges("no-such-user-q7", "");
    ASSERT_FALSE(result);
    EXPECT_EQ(result.error().message, "user 'no-such-user-q7': no such user");
}

TEST(DropPrivileges, UnknownGroupIsNamed) {
    auto result = drop_privileges("root", "no-such-group-q7");
    ASSERT_FALSE(result);
    EXPECT_EQ(result.error().message, "group 'no-such-group-q7': no such group");
}

TEST(DropPrivileges, EmptyUserIsAnError) {
    auto result = drop_privileges("", "");
    ASSERT_FALSE(result);
    EXPECT_EQ(result.error().message, "drop privileges: no user given");
}

// Run as an ordinary user (a child that became nobody): switching to oneself is accepted,
// to anyone else refused.
TEST(DropPrivileges, WithoutRootOnlyTheCurrentUserIsAccepted) {
    pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
        if (geteuid() == 0 && !drop_privileges("nobody", "")) {
            _exit(10);
        }
        passwd* self = getpwuid(getuid());
        if (self == nullptr) {
            _exit(11);
        }
        std::string name = self->pw_name;
        if (!drop_privileges(name, "")) {
            _exit(12);
        }
        auto result = drop_privileges("root", "");
        if (result ||
            result.error().message != "user 'root': cannot switch user: not running as root") {
            _exit(13);
        }
        _exit(0);
    }
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 0) << "10 drop to nobody, 11 lookup, 12 self refused, "
                                         "13 root accepted or wrong message";
}

// Exit codes of the child, so the parent can say which check failed.
enum ChildExit : int {
    kPassed = 0,
    kDropFailed = 10,
    kWrongIds = 11,
    kRegainedRoot = 12,
    kPacketSocketAllowed = 13,
    kOpenSocketLost = 14,
};

TEST(DropPrivileges, ChildBecomesNobodyAndCannotRegainRoot) {
    if (geteuid() != 0) {
        GTEST_SKIP() << "needs root";
    }
    passwd* nobody = getpwnam("nobody");
    if (nobody == nullptr) {
        GTEST_SKIP() << "no user nobody";
    }
    uid_t want_uid = nobody->pw_uid;
    gid_t want_gid = nobody->pw_gid;
    pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
        // Opened as root: must keep working after the switch.
        int before = socket(AF_PACKET, SOCK_RAW, 0);
        if (!drop_privileges("nobody", "")) {
            _exit(kDropFailed);
        }
        if (getuid() != want_uid || geteuid() != want_uid || getgid() != want_gid ||
            getegid() != want_gid) {
            _exit(kWrongIds);
        }
        if (setuid(0) == 0 || seteuid(0) == 0) {
            _exit(kRegainedRoot);
        }
        int after = socket(AF_PACKET, SOCK_RAW, 0);
        if (after >= 0 || errno != EPERM) {
            _exit(kPacketSocketAllowed);
        }
        int type = 0;
        socklen_t len = sizeof type;
        if (before < 0 || getsockopt(before, SOL_SOCKET, SO_TYPE, &type, &len) != 0 ||
            type != SOCK_RAW) {
            _exit(kOpenSocketLost);
        }
        _exit(kPassed);
    }
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), kPassed);
}

}  // namespace
}  // namespace sensor::capture
