// The bodies sent to the Kubernetes API.
#include "agent/k8s/event_object.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace vigil {
namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;

TEST(EventObject, MicroTimeHasMicroseconds) {
  const WallClock::time_point t =
      WallClock::time_point(std::chrono::seconds(1800000000)) + 123456789ns;
  EXPECT_EQ(MicroTime(t), "2027-01-15T08:00:00.123456Z");
}

TEST(EventObject, NameIsPodDotHexNanos) {
  const WallClock::time_point t =
      WallClock::time_point(std::chrono::nanoseconds(0x17f2a3b4c5d6e7f8));
  EXPECT_EQ(EventName("shop-7d9f-abcde", t), "shop-7d9f-abcde.17f2a3b4c5d6e7f8");
  EXPECT_LE(EventName(std::string(253, 'a'), t).size(), 253u);
}

TEST(EventObject, NoteIsCutOnACharacterBoundary) {
  const std::string note = std::string(1023, 'x') + "é";  // é is two bytes
  EXPECT_EQ(CutNote(note), std::string(1023, 'x'));
  EXPECT_EQ(CutNote("short"), "short");
}

TEST(EventObject, EventRegardsThePod) {
  DependencyChange c;
  c.check = "redis-session";
  c.reason = "DependencyDown";
  c.type = "Warning";
  c.action = "CheckFailed";
  c.note = "redis-session (required) failed: connection refused";
  c.time = WallClock::time_point(std::chrono::seconds(1800000000));
  const json e = json::parse(EventJson({"shop-1", "shop", "uid-1"}, "shop-1.abc", c));
  EXPECT_EQ(e["apiVersion"], "events.k8s.io/v1");
  EXPECT_EQ(e["kind"], "Event");
  EXPECT_EQ(e["metadata"]["name"], "shop-1.abc");
  EXPECT_EQ(e["metadata"]["namespace"], "shop");
  EXPECT_EQ(e["eventTime"], "2027-01-15T08:00:00.000000Z");
  EXPECT_EQ(e["reportingController"], "vigil.dev/agent");
  EXPECT_EQ(e["reportingInstance"], "shop-1");
  EXPECT_EQ(e["regarding"], json({{"apiVersion", "v1"},
                                  {"kind", "Pod"},
                                  {"name", "shop-1"},
                                  {"namespace", "shop"},
                                  {"uid", "uid-1"}}));
  EXPECT_EQ(e["reason"], "DependencyDown");
  EXPECT_EQ(e["type"], "Warning");
  EXPECT_EQ(e["action"], "CheckFailed");
  EXPECT_FALSE(e.contains("series"));
  EXPECT_FALSE(json::parse(EventJson({"p", "ns", ""}, "p.1", c))["regarding"].contains("uid"));
}

TEST(EventObject, SeriesPatch) {
  const WallClock::time_point t = WallClock::time_point(std::chrono::seconds(1800000000));
  EXPECT_EQ(SeriesPatchJson(3, t),
            R"({"series":{"count":3,"lastObservedTime":"2027-01-15T08:00:00.000000Z"}})");
  EXPECT_EQ(json::parse(SeriesPatchJson(1, t))["series"]["count"], 2);
}

}  // namespace
}  // namespace vigil
