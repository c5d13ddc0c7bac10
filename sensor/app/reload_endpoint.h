#pragma once
// ReloadEndpoint: POST /-/reload (metrics.reload-endpoint). A request asks the Reloader for a
// reload, as SIGHUP does, and is answered once a reload that read the files after it has
// ended: 200 with that reload's record when it took effect, 500 when the running rules stayed,
// 503 when the sensor stops first, 429 when two requests already wait (so that /metrics keeps
// HTTP threads for scrapes), 504 after the timeout (the reload goes on).

#include <chrono>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>

#include "sensor/app/reloader.h"
#include "sensor/metrics/http_server.h"

namespace sensor::app {

class ReloadEndpoint {
public:
    // last_reload: the record of the latest ended reload ({"result": "ok"|"failed", ...}, as
    // stats.json's rules.reloads.last). on_request: called for each request that starts or
    // joins a reload (for the log). Both run on HTTP threads.
    ReloadEndpoint(Reloader& reloader, std::function<nlohmann::json()> last_reload,
                   std::function<void()> on_request,
                   std::chrono::milliseconds timeout = std::chrono::minutes(5));
    ~ReloadEndpoint();  // close()
    ReloadEndpoint(const ReloadEndpoint&) = delete;
    ReloadEndpoint& operator=(const ReloadEndpoint&) = delete;

    // The handler to serve. It may outlive this object (the HTTP server keeps it): after
    // close() it answers 503 and uses nothing it was given.
    metrics::HttpHandler handler() const;
    // From now on every request is answered 503; stops the reloader (a waiting request
    // returns) and waits until no request is inside the handler any more. Idempotent.
    void close();

private:
    struct State;
    std::shared_ptr<State> state_;
};

}  // namespace sensor::app
