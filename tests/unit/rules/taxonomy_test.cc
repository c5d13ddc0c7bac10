#include "rules/taxonomy.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace sensor::rules {
namespace {

const std::string kDataDir = std::string(SENSOR_SOURCE_DIR) + "/rules/data";

std::string read_all(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream out;
    out << in.rdbuf();
    return out.str();
}

constexpr std::string_view kClasses =
    "# comment\n"
    "config classification: trojan-activity,A Network Trojan was detected, 1\n"
    "\n"
    "config classification: attempted-recon,Attempted Information Leak,2\n"
    "config classification: policy-violation,Potential Corporate Privacy Violation,1\n"
    "config classification: misc-activity,Misc activity,3\n";

constexpr std::string_view kMap =
    "# header follows\n"
    "classtype\tconcepts\n"
    "trojan-activity\tcrime.02,threat.06\t# harmful software\n"
    "attempted-recon\tthreat.04\n"
    "policy-violation\t crime.03 \n";

TEST(Taxonomy, ParsesClassificationLines) {
    auto taxonomy = Taxonomy::from_text(kClasses, kMap);
    ASSERT_TRUE(taxonomy) << taxonomy.error().message;
    EXPECT_EQ(taxonomy->class_count(), 4u);
    const Classification* trojan = taxonomy->find_class("trojan-activity");
    ASSERT_NE(trojan, nullptr);
    EXPECT_EQ(trojan->name, "trojan-activity");
    EXPECT_EQ(trojan->description, "A Network Trojan was detected");
    EXPECT_EQ(trojan->priority, 1);
    const Classification* misc = taxonomy->find_class("misc-activity");
    ASSERT_NE(misc, nullptr);
    EXPECT_EQ(misc->priority, 3);
    EXPECT_EQ(taxonomy->find_class("no-such-class"), nullptr);
}

TEST(Taxonomy, DescriptionMayContainCommas) {
    auto taxonomy = Taxonomy::from_text("config classification: x-y,Alpha, beta, gamma,2\n",
                                        "classtype\tconcepts\n");
    ASSERT_TRUE(taxonomy) << taxonomy.error().message;
    ASSERT_NE(taxonomy->find_class("x-y"), nullptr);
    EXPECT_EQ(taxonomy->find_class("x-y")->description, "Alpha, beta, gamma");
    EXPECT_EQ(taxonomy->find_class("x-y")->priority, 2);
}

TEST(Taxonomy, MetadataConceptsWinInOrderWithoutRepeats) {
    auto taxonomy = Taxonomy::from_text(kClasses, kMap);
    ASSERT_TRUE(taxonomy);
    EXPECT_EQ(taxonomy->concepts_for({"crime.10", "threat.02", "crime.10"}, "trojan-activity"),
              (std::vector<std::string>{"crime.10", "threat.02"}));
}

TEST(Taxonomy, ClasstypeMapAppliesWithoutMetadata) {
    auto taxonomy = Taxonomy::from_text(kClasses, kMap);
    ASSERT_TRUE(taxonomy);
    EXPECT_EQ(taxonomy->concepts_for({}, "trojan-activity"),
              (std::vector<std::string>{"crime.02", "threat.06"}));
    EXPECT_EQ(taxonomy->concepts_for({}, "policy-violation"),
              (std::vector<std::string>{"crime.03"}));
}

TEST(Taxonomy, UnmappedOrMissingClasstypeIsUnclassified) {
    auto taxonomy = Taxonomy::from_text(kClasses, kMap);
    ASSERT_TRUE(taxonomy);
    const std::vector<std::string> unclassified{"unclassified"};
    EXPECT_EQ(taxonomy->concepts_for({}, "misc-activity"), unclassified);
    EXPECT_EQ(taxonomy->concepts_for({}, "not-in-table"), unclassified);
    EXPECT_EQ(taxonomy->concepts_for({}, ""), unclassified);
}

TEST(Taxonomy, KnownConceptIds) {
    for (int i = 1; i <= 15; ++i) {
        char id[16];
        std::snprintf(id, sizeof(id), "threat.%02d", i);
        EXPECT_TRUE(Taxonomy::is_known_concept(id)) << id;
    }
    for (int i = 1; i <= 10; ++i) {
        char id[16];
        std::snprintf(id, sizeof(id), "crime.%02d", i);
        EXPECT_TRUE(Taxonomy::is_known_concept(id)) << id;
    }
    for (const char* id :
         {"threat.00", "threat.16", "crime.00", "crime.11", "threat.1", "threat.001", "crime.1a",
          "Threat.01", "threat01", "unclassified", "", "crime.", "threat.-1"}) {
        EXPECT_FALSE(Taxonomy::is_known_concept(id)) << id;
    }
}

// One malformed input per row and the exact message it must produce.
struct BadInput {
    std::string_view classes;
    std::string_view map;
    std::string_view message;
};

class TaxonomyBadInput : public ::testing::TestWithParam<BadInput> {};

TEST_P(TaxonomyBadInput, ReportsFileLineAndReason) {
    const BadInput& input = GetParam();
    auto taxonomy = Taxonomy::from_text(input.classes, input.map);
    ASSERT_FALSE(taxonomy);
    EXPECT_EQ(taxonomy.error().message, input.message);
}

constexpr std::string_view kHeader = "classtype\tconcepts\n";
constexpr std::string_view kOneClass = "config classification: a-b,Desc,2\n";

INSTANTIATE_TEST_SUITE_P(
    Table, TaxonomyBadInput,
    ::testing::Values(
        BadInput{"#\nconfig classification: a-b,Desc\n", kHeader,
                 "classification.config:2: expected 'name,description,priority' after ':'"},
        BadInput{"config classification: a-b,Desc,high\n", kHeader,
                 "classification.config:1: priority 'high' is not an integer from 1 to 255"},
        BadInput{"config classification: a-b,Desc,0\n", kHeader,
                 "classification.config:1: priority '0' is not an integer from 1 to 255"},
        BadInput{"config classification: a-b,Desc,2x\n", kHeader,
                 "classification.config:1: priority '2x' is not an integer from 1 to 255"},
        BadInput{"config classification: a b,Desc,2\n", kHeader,
                 "classification.config:1: invalid classtype name 'a b' (letters, digits, '-' "
                 "and '_' only)"},
        BadInput{"config classification: a-b, ,2\n", kHeader,
                 "classification.config:1: empty description for classtype 'a-b'"},
        BadInput{"config reference: url,http://\n", kHeader,
                 "classification.config:1: expected 'config classification: "
                 "name,description,priority'"},
        BadInput{"config classification: a-b,Desc,2\nconfig classification: a-b,Other,1\n", kHeader,
                 "classification.config:2: duplicate classtype 'a-b'"},
        BadInput{kOneClass, "classtype\tconcepts\na-b\tthreat.16\n",
                 "concept-map.tsv:2: unknown concept id 'threat.16' (expected "
                 "threat.01..threat.15 or crime.01..crime.10)"},
        BadInput{kOneClass, "classtype\tconcepts\na-b\tcrime.01,crime.01\n",
                 "concept-map.tsv:2: repeated concept id 'crime.01'"},
        BadInput{kOneClass, "classtype\tconcepts\na-b\tcrime.01,\n",
                 "concept-map.tsv:2: unknown concept id '' (expected threat.01..threat.15 or "
                 "crime.01..crime.10)"},
        BadInput{kOneClass, "classtype\tconcepts\nc-d\tcrime.01\n",
                 "concept-map.tsv:2: classtype 'c-d' is not in classification.config"},
        BadInput{kOneClass, "classtype\tconcepts\na-b\tcrime.01\na-b\tcrime.02\n",
                 "concept-map.tsv:3: duplicate classtype 'a-b'"},
        BadInput{kOneClass, "classtype\tconcepts\na-b crime.01\n",
                 "concept-map.tsv:2: expected 2 tab-separated fields (classtype, concepts), got 1"},
        BadInput{kOneClass, "classtype\tconcepts\na-b\tcrime.01\textra\n",
                 "concept-map.tsv:2: expected 2 tab-separated fields (classtype, concepts), got 3"},
        BadInput{kOneClass, "# only comments\n",
                 "concept-map.tsv:1: expected the header 'classtype<TAB>concepts'"},
        BadInput{kOneClass, "a-b\tcrime.01\n",
                 "concept-map.tsv:1: expected the header 'classtype<TAB>concepts'"}));

TEST(Taxonomy, ReportsEveryErrorAtOnce) {
    auto taxonomy = Taxonomy::from_text(
        "config classification: a-b,Desc,2\nbad line\nconfig classification: c,D,9999\n",
        "classtype\tconcepts\na-b\tthreat.99\nzz\tcrime.01\n");
    ASSERT_FALSE(taxonomy);
    EXPECT_EQ(taxonomy.error().message,
              "classification.config:2: expected 'config classification: "
              "name,description,priority'\n"
              "classification.config:3: priority '9999' is not an integer from 1 to 255\n"
              "concept-map.tsv:2: unknown concept id 'threat.99' (expected threat.01..threat.15 "
              "or crime.01..crime.10)\n"
              "concept-map.tsv:3: classtype 'zz' is not in classification.config");
}

TEST(Taxonomy, LoadNamesMissingFiles) {
    auto taxonomy = Taxonomy::load("/nonexistent-taxonomy-dir");
    ASSERT_FALSE(taxonomy);
    EXPECT_NE(taxonomy.error().message.find(
                  "/nonexistent-taxonomy-dir/classification.config: cannot open: "),
              std::string::npos)
        << taxonomy.error().message;
    EXPECT_NE(taxonomy.error().message.find("/nonexistent-taxonomy-dir/concept-map.tsv"),
              std::string::npos);
}

TEST(Taxonomy, LoadErrorsNameTheFilePath) {
    const std::filesystem::path dir =
        std::filesystem::temp_directory_path() / ("taxonomy_test_" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    std::ofstream(dir / "classification.config") << kOneClass;
    std::ofstream(dir / "concept-map.tsv") << "classtype\tconcepts\na-b\tcrime.99\n";
    auto taxonomy = Taxonomy::load(dir.string());
    std::filesystem::remove_all(dir);
    ASSERT_FALSE(taxonomy);
    EXPECT_EQ(taxonomy.error().message.rfind((dir / "concept-map.tsv").string() + ":2: ", 0), 0u)
        << taxonomy.error().message;
}

// The shipped tables load, and every line of classification.config becomes a class.
TEST(ShippedTaxonomy, Loads) {
    auto taxonomy = Taxonomy::load(kDataDir);
    ASSERT_TRUE(taxonomy) << taxonomy.error().message;
    std::istringstream text(read_all(kDataDir + "/classification.config"));
    const std::regex entry(R"(config classification: ([a-z0-9_-]+),.*)");
    size_t lines = 0;
    for (std::string line; std::getline(text, line);) {
        std::smatch m;
        if (std::regex_match(line, m, entry)) {
            ++lines;
            EXPECT_NE(taxonomy->find_class(m[1].str()), nullptr) << m[1];
        }
    }
    EXPECT_GT(lines, 40u);
    EXPECT_EQ(taxonomy->class_count(), lines);
}

// Published values of a few classes (Suricata's etc/classification.config, Snort 3 defaults).
TEST(ShippedTaxonomy, MatchesPublishedTable) {
    auto taxonomy = Taxonomy::load(kDataDir);
    ASSERT_TRUE(taxonomy) << taxonomy.error().message;
    struct Row {
        const char* name;
        const char* description;
        int priority;
    };
    for (const Row& row :
         {Row{"not-suspicious", "Not Suspicious Traffic", 3},
          Row{"bad-unknown", "Potentially Bad Traffic", 2},
          Row{"trojan-activity", "A Network Trojan was detected", 1},
          Row{"tcp-connection", "A TCP connection was detected", 4},
          Row{"command-and-control", "Malware Command and Control Activity Detected", 1},
          Row{"malware-cnc", "Known malware command and control traffic", 1}}) {
        const Classification* c = taxonomy->find_class(row.name);
        ASSERT_NE(c, nullptr) << row.name;
        EXPECT_EQ(c->description, row.description);
        EXPECT_EQ(c->priority, row.priority) << row.name;
    }
    EXPECT_EQ(taxonomy->concepts_for({}, "trojan-activity"),
              (std::vector<std::string>{"crime.02", "threat.06"}));
    EXPECT_EQ(taxonomy->concepts_for({}, "attempted-dos"), (std::vector<std::string>{"threat.08"}));
    EXPECT_EQ(taxonomy->concepts_for({}, "not-suspicious"),
              (std::vector<std::string>{"unclassified"}));
}

// Every classtype that the public rule sets use must be in the shipped table.
TEST(ShippedTaxonomy, CoversPublicRuleSets) {
    const std::filesystem::path rulesets =
        std::filesystem::path(SENSOR_SOURCE_DIR) / "../shared/corpora/rulesets";
    if (!std::filesystem::exists(rulesets)) {
        GTEST_SKIP() << "corpora not present: " << rulesets;
    }
    auto taxonomy = Taxonomy::load(kDataDir);
    ASSERT_TRUE(taxonomy) << taxonomy.error().message;
    std::set<std::string> used;
    for (const auto& entry : std::filesystem::recursive_directory_iterator(rulesets)) {
        if (entry.path().extension() != ".rules") {
            continue;
        }
        std::ifstream in(entry.path());
        for (std::string line; std::getline(in, line);) {
            if (line.empty() || line[0] == '#') {
                continue;
            }
            // Plain search: std::regex over 50,000 rules is slow in sanitizer builds.
            size_t pos = line.find("classtype:");
            if (pos == std::string::npos) {
                continue;
            }
            pos = line.find_first_not_of(' ', pos + 10);
            const size_t end = line.find_first_of("; )", pos);
            if (pos != std::string::npos && end != std::string::npos) {
                used.insert(line.substr(pos, end - pos));
            }
        }
    }
    EXPECT_GT(used.size(), 30u);
    for (const std::string& name : used) {
        EXPECT_NE(taxonomy->find_class(name), nullptr) << "classtype not in table: " << name;
    }
}

}  // namespace
}  // namespace sensor::rules
