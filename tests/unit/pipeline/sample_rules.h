#pragma once
// The shipped rules (rules/sets, with the sample network's Modbus addresses) and the built-in
// detections, as the pipeline tests that replay the generated sample load them.

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "rules/rule_set.h"
#include "rules/taxonomy.h"
#include "sensor/detect/builtin_detectors.h"
#include "sensor/detect/signature_db.h"
#include "sensor/pipeline/worker.h"

namespace sensor::pipeline::test_support {

struct SampleRules {
    std::shared_ptr<const detect::SignatureDb> db;
    std::vector<BuiltinRule> builtin;
};

inline SampleRules load_sample_rules() {
    SampleRules out;
    auto taxonomy = rules::Taxonomy::load(std::string(SENSOR_SOURCE_DIR) + "/rules/data");
    EXPECT_TRUE(taxonomy) << taxonomy.error().message;
    if (!taxonomy) {
        return out;
    }
    rules::LoadOptions load;
    load.address_groups["MODBUS_CLIENT"] = "10.20.0.5";
    load.address_groups["MODBUS_SERVER"] = "10.20.0.10";
    auto set =
        rules::load_rule_files({std::string(SENSOR_SOURCE_DIR) + "/rules/sets"}, load, *taxonomy);
    EXPECT_TRUE(set) << set.error().message;
    if (!set) {
        return out;
    }
    auto db = detect::SignatureDb::build(std::make_shared<const rules::RuleSet>(*set));
    EXPECT_TRUE(db) << db.error().message;
    if (db) {
        out.db = *db;
    }
    for (auto [sid, classtype] : {std::pair{detect::kPortScanSid, "attempted-recon"},
                                  std::pair{detect::kSynFloodSid, "attempted-dos"}}) {
        BuiltinRule r;
        r.sid = sid;
        r.msg = "builtin";
        r.classtype = classtype;
        r.concepts = taxonomy->concepts_for({}, classtype);
        out.builtin.push_back(r);
    }
    return out;
}

}  // namespace sensor::pipeline::test_support
