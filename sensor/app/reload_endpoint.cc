#include "sensor/app/reload_endpoint.h"

#include <condition_variable>
#include <mutex>
#include <utility>

namespace sensor::app {

struct ReloadEndpoint::State {
    State(Reloader& r, std::function<nlohmann::json()> last, std::function<void()> on_req,
          std::chrono::milliseconds wait_limit)
        : reloader(r),
          last_reload(std::move(last)),
          on_request(std::move(on_req)),
          timeout(wait_limit) {}

    Reloader& reloader;
    std::function<nlohmann::json()> last_reload;
    std::function<void()> on_request;
    std::chrono::milliseconds timeout;
    std::mutex mutex;
    std::condition_variable idle;
    bool closed = false;
    int in_flight = 0;  // requests inside the handler past the closed check
};

namespace {

constexpr int kMaxWaiting = 2;

metrics::HttpResponse answer(int status, const nlohmann::json& body) {
    return metrics::HttpResponse{status, "application/json", body.dump() + "\n"};
}

}  // namespace

ReloadEndpoint::ReloadEndpoint(Reloader& reloader, std::function<nlohmann::json()> last_reload,
                               std::function<void()> on_request, std::chrono::milliseconds timeout)
    : state_(std::make_shared<State>(reloader, std::move(last_reload), std::move(on_request),
                                     timeout)) {}

ReloadEndpoint::~ReloadEndpoint() { close(); }

metrics::HttpHandler ReloadEndpoint::handler() const {
    return [state = state_](const metrics::HttpRequest&) {
        {
            std::lock_guard lock(state->mutex);
            if (state->closed) {
                return answer(503, {{"result", "refused"},
                                    {"error", "no rule reload: the sensor is stopping"}});
            }
            if (state->in_flight >= kMaxWaiting) {
                return answer(429, {{"result", "refused"},
                                    {"error", "two reloads over HTTP are waiting already"}});
            }
            ++state->in_flight;
        }
        // Until Leave, close() waits: what the state refers to stays alive.
        struct Leave {
            State& state;
            ~Leave() {
                std::lock_guard lock(state.mutex);
                --state.in_flight;
                state.idle.notify_all();
            }
        } leave{*state};
        uint64_t ticket = 0;
        if (state->reloader.request(&ticket) == Reloader::Request::kStopped) {
            return answer(503, {{"result", "refused"},
                                {"error", "no rule reload: the run is over or stopping"}});
        }
        if (state->on_request) {
            state->on_request();
        }
        if (!state->reloader.wait(ticket, state->timeout)) {
            return state->reloader.stopping()
                       ? answer(503, {{"result", "abandoned"},
                                      {"error", "the sensor stopped before the reload ended"}})
                       : answer(504, {{"result", "pending"},
                                      {"error",
                                       "the reload did not end in time; it goes on "
                                       "(see the log)"}});
        }
        const nlohmann::json last = state->last_reload();
        return answer(last.value("result", "") == "ok" ? 200 : 500, last);
    };
}

void ReloadEndpoint::close() {
    {
        std::lock_guard lock(state_->mutex);
        state_->closed = true;
    }
    state_->reloader.stop();
    std::unique_lock lock(state_->mutex);
    state_->idle.wait(lock, [this] { return state_->in_flight == 0; });
}

}  // namespace sensor::app
