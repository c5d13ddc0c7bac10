#pragma once
// Dropping root after the capture sources are open. Called once by the main thread at
// startup; the change applies to every thread of the process and cannot be undone.

#include <string>

#include "sensor/core/result.h"

namespace sensor::capture {

// Switches real, effective and saved ids to user and group (empty group: the user's primary
// group), with the user's supplementary groups, then checks that root cannot be regained.
// Open packet sockets keep capturing: CAP_NET_RAW is checked only when a socket is created,
// so call this after every source is open. Errors name the user or group. Not running as
// root is an error unless the process already runs as that user and group.
core::Result<void> drop_privileges(const std::string& user, const std::string& group);

}  // namespace sensor::capture
