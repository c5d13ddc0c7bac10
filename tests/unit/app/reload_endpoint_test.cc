#include "sensor/app/reload_endpoint.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <string>
#include <thread>

namespace sensor::app {
namespace {

using namespace std::chrono_literals;

// A reload function whose outcome the test sets, optionally held until released.
struct FakeReload {
    std::atomic<bool> ok{true};
    std::atomic<int> runs{0};
    std::shared_future<void> release;  // valid: every reload waits for it
    nlohmann::json last;               // written by the reload thread before it returns
    std::mutex mutex;

    void operator()(Reloader& r) {
        ++runs;
        if (release.valid()) {
            release.wait();
        }
        r.commit({});
        std::lock_guard lock(mutex);
        last = ok ? nlohmann::json{{"result", "ok"}, {"loaded", 3}}
                  : nlohmann::json{{"result", "failed"}, {"error", "local.rules:2: bad"}};
    }
    nlohmann::json read_last() {
        std::lock_guard lock(mutex);
        return last;
    }
};

metrics::HttpResponse post(const metrics::HttpHandler& h) {
    return h(metrics::HttpRequest{"POST", "/-/reload", "", ""});
}

TEST(ReloadEndpoint, AnswersWithTheOutcomeOfTheReloadItAskedFor) {
    FakeReload fake;
    Reloader reloader([&](Reloader& r) { fake(r); });
    std::atomic<int> logged{0};
    ReloadEndpoint endpoint(
        reloader, [&] { return fake.read_last(); }, [&] { ++logged; });
    const metrics::HttpHandler handler = endpoint.handler();

    metrics::HttpResponse r = post(handler);
    EXPECT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(nlohmann::json::parse(r.body)["loaded"], 3);
    EXPECT_EQ(r.content_type, "application/json");

    fake.ok = false;
    r = post(handler);
    EXPECT_EQ(r.status, 500) << r.body;
    EXPECT_EQ(nlohmann::json::parse(r.body)["error"], "local.rules:2: bad");
    EXPECT_EQ(fake.runs.load(), 2) << "one reload per request";
    EXPECT_EQ(logged.load(), 2);
}

TEST(ReloadEndpoint, RefusesAThirdWaiterAndEverythingAfterClose) {
    FakeReload fake;
    std::promise<void> release;
    fake.release = release.get_future().share();
    Reloader reloader([&](Reloader& r) { fake(r); });
    std::atomic<int> inside{0};  // requests that asked for a reload and wait for it
    ReloadEndpoint endpoint(
        reloader, [&] { return fake.read_last(); }, [&] { ++inside; });
    const metrics::HttpHandler handler = endpoint.handler();

    auto first = std::async(std::launch::async, [&] { return post(handler); });
    auto second = std::async(std::launch::async, [&] { return post(handler); });
    while (inside.load() < 2) {
        std::this_thread::sleep_for(1ms);
    }
    const metrics::HttpResponse third = post(handler);
    EXPECT_EQ(third.status, 429) << third.body;
    EXPECT_EQ(inside.load(), 2) << "the third never asked for a reload";
    release.set_value();
    EXPECT_EQ(first.get().status, 200);
    EXPECT_EQ(second.get().status, 200);

    endpoint.close();
    const metrics::HttpResponse after = post(handler);
    EXPECT_EQ(after.status, 503);
    EXPECT_NE(after.body.find("stopping"), std::string::npos) << after.body;
}

// close() returns only once a request waiting inside the handler has left it, so what the
// handler refers to (the reloader, the outcome function) may go right after.
TEST(ReloadEndpoint, CloseWaitsForARequestInsideAndAnswersItAbandoned) {
    FakeReload fake;
    std::promise<void> release;
    fake.release = release.get_future().share();
    metrics::HttpHandler handler;
    std::future<metrics::HttpResponse> waiting;
    {
        Reloader reloader([&](Reloader& r) { fake(r); });
        ReloadEndpoint endpoint(reloader, [&] { return fake.read_last(); }, {});
        handler = endpoint.handler();
        waiting = std::async(std::launch::async, [&] { return post(handler); });
        while (fake.runs.load() == 0) {
            std::this_thread::sleep_for(1ms);
        }
        auto closing = std::async(std::launch::async, [&] { endpoint.close(); });
        const bool closed = closing.wait_for(5s) == std::future_status::ready;
        // The waiter has left the handler (its answer may take a moment more to arrive).
        const bool answered = waiting.wait_for(5s) == std::future_status::ready;
        release.set_value();  // the reload ends uncommitted; the reloader joins it
        ASSERT_TRUE(closed) << "close() did not return";
        ASSERT_TRUE(answered);
        const metrics::HttpResponse r = waiting.get();
        EXPECT_EQ(r.status, 503) << r.body;
        EXPECT_NE(r.body.find("abandoned"), std::string::npos) << r.body;
    }
    // The handler outlived the endpoint and the reloader: it answers without touching them.
    EXPECT_EQ(post(handler).status, 503);
}

}  // namespace
}  // namespace sensor::app
