#include "sensor/core/read_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace sensor::core {

Result<std::string> read_file(const std::string& path) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return make_error(path + ": cannot open: " + std::strerror(errno));
    }
    struct stat st {};
    if (::fstat(fd, &st) != 0) {
        const int err = errno;
        ::close(fd);
        return make_error(path + ": cannot read: " + std::strerror(err));
    }
    if (S_ISDIR(st.st_mode)) {
        ::close(fd);
        return make_error(path + ": cannot read: it is a directory");
    }
    // The size is a first guess: the file may grow while it is read, and pipes report none.
    // Reading up to it fills the string in place; a read past it shows whether there is more.
    std::string text(st.st_size > 0 ? static_cast<size_t>(st.st_size) : 0, '\0');
    size_t used = 0;
    char more[16 * 1024];
    while (true) {
        const bool in_place = used < text.size();
        const ssize_t got = in_place ? ::read(fd, text.data() + used, text.size() - used)
                                     : ::read(fd, more, sizeof(more));
        if (got < 0) {
            if (errno == EINTR) {
                continue;
            }
            const int err = errno;
            ::close(fd);
            return make_error(path + ": cannot read: " + std::strerror(err));
        }
        if (got == 0) {
            break;
        }
        if (!in_place) {
            text.append(more, static_cast<size_t>(got));
        }
        used += static_cast<size_t>(got);
    }
    ::close(fd);
    text.resize(used);
    return text;
}

}  // namespace sensor::core
