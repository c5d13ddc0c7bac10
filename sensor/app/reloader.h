#pragma once
// Reloader: runs rule reloads on a thread of its own, one at a time, so that a stop signal is
// never queued behind a compile. Owned by the control thread; request() and stop() from any
// thread (the signal thread).

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>

namespace sensor::app {

class Reloader {
public:
    // What request() did with a request.
    enum class Request {
        kStarts,   // the reloader was idle: a reload starts now
        kFollows,  // a reload runs: one more starts after it, reading the files again
        kMerged,   // a reload was already waiting: this request is part of it
        kStopped,  // stop() came first: nothing happens
    };

    // reload runs on the reloader's thread, once per reload; it must call commit() once to make
    // its result take effect (publish ok rules, count a failure) and drop its result when
    // commit() answers false.
    explicit Reloader(std::function<void(Reloader&)> reload);
    // stop(), then waits for a reload still running: its commit() answers false, so nothing it
    // computed takes effect. The objects reload uses must outlive the Reloader.
    ~Reloader();
    Reloader(const Reloader&) = delete;
    Reloader& operator=(const Reloader&) = delete;

    // Any thread. Requests made while a reload runs are merged into one reload after it, so a
    // burst of SIGHUPs never runs two reloads at once and never loses the newest files.
    // ticket (optional) receives the request's number, for wait().
    Request request(uint64_t* ticket = nullptr);
    // Any thread: waits until a reload that started after request `ticket` was made has run
    // to its end (committed or failed; the outcome is the reload function's to report), or
    // until stop() (unless that reload has committed: it is waited for) or the timeout. True
    // when such a reload ended.
    bool wait(uint64_t ticket, std::chrono::milliseconds timeout);
    // Any thread; idempotent. No reload starts after it, and one running cannot commit any more.
    void stop();
    bool stopping() const;

    // Reload thread, from inside reload: runs effect (may be empty) and answers true, unless
    // stop() came first (then false, effect not run). stop() never interrupts effect.
    bool commit(const std::function<void()>& effect);

    // Control thread, at the end of a run: stop(), then waits until a reload that has committed
    // has returned (its counters and metrics are then final; that is short, as a committed
    // reload has compiled already). A compile still running is not waited for. Returns the
    // reloads the stop cut short: one running that had not committed, one waiting.
    size_t finish();

private:
    void loop();

    std::function<void(Reloader&)> reload_;
    mutable std::mutex mutex_;  // guards the fields below
    std::condition_variable cv_;
    bool pending_ = false;
    bool running_ = false;
    bool committed_ = false;  // the running reload has committed
    bool stopping_ = false;
    size_t abandoned_ = 0;    // set by the first stop()
    uint64_t requested_ = 0;  // requests made (tickets handed out)
    uint64_t covering_ = 0;   // the running reload covers the requests up to this one
    uint64_t completed_ = 0;  // every request up to this one was covered by an ended reload
    std::thread thread_;      // last: starts once the fields above are set
};

}  // namespace sensor::app
