// A peer's answer is untrusted input: only the exact shape passes, and what
// this pod renders for its peers reads back as it was meant.
#include "agent/fleet/peer_answer.h"

#include <gtest/gtest.h>

#include "agent/http/api.h"
#include "agent/http/fleet_render.h"

namespace vigil {
namespace {

const char* kGood =
    R"({"v":1,"instance":"0123456789abcdef","pod":{"name":"web-1","namespace":"shop","node":"node-a"},)"
    R"("status":"error","ready":false,"checks":{"db":{"status":"fail","since":"x"},"app":{"status":"pass"}}})";

TEST(PeerAnswer, ReadsAWellFormedAnswer) {
  PeerAnswer a;
  a.address = "10.0.0.5:8086";
  ASSERT_TRUE(ParsePeerAnswer(kGood, &a));
  EXPECT_EQ(a.address, "10.0.0.5:8086");
  EXPECT_EQ(a.instance, "0123456789abcdef");
  EXPECT_EQ(a.name, "web-1");
  EXPECT_EQ(a.namespace_, "shop");
  EXPECT_EQ(a.node, "node-a");
  EXPECT_EQ(a.status, "error");
  EXPECT_FALSE(a.ready);
  ASSERT_EQ(a.checks.size(), 2u);
  EXPECT_EQ(a.checks[0].name, "app");  // sorted
  ASSERT_NE(a.Find("db"), nullptr);
  EXPECT_EQ(a.Find("db")->status, Status::kFail);
}

TEST(PeerAnswer, RefusesEverythingElse) {
  const std::vector<std::string> bad = {
      "",
      "not json",
      "[]",
      R"({"v":2,"instance":"00","status":"ok","ready":true,"checks":{}})",
      R"({"instance":"00","status":"ok","ready":true,"checks":{}})",
      R"({"v":1,"instance":"XYZ","status":"ok","ready":true,"checks":{}})",
      R"({"v":1,"instance":"00","status":"fine","ready":true,"checks":{}})",
      R"({"v":1,"instance":"00","status":"ok","ready":"yes","checks":{}})",
      R"({"v":1,"instance":"00","status":"ok","ready":true})",
      R"({"v":1,"instance":"00","status":"ok","ready":true,"checks":[]})",
      R"({"v":1,"instance":"00","status":"ok","ready":true,"checks":{"DB":{"status":"fail"}}})",
      R"({"v":1,"instance":"00","status":"ok","ready":true,"checks":{"db":{"status":"down"}}})",
      R"({"v":1,"instance":"00","status":"ok","ready":true,"checks":{"db":"fail"}})",
      R"({"v":1,"instance":"00","status":"ok","ready":true,"pod":{"name":"a\nb"},"checks":{}})",
      R"({"v":1,"instance":"00","status":"ok","ready":true,"pod":{"name":"é"},"checks":{}})",
      R"({"v":1,"instance":"00","status":"ok","ready":true,"pod":"web","checks":{}})",
      std::string(100000, '['),
      "{\"v\":1,\"instance\":\"00\",\"status\":\"ok\",\"ready\":true,\"checks\":{\"a\xff\":{}}}",
  };
  for (const std::string& body : bad) {
    PeerAnswer a;
    EXPECT_FALSE(ParsePeerAnswer(body, &a)) << body.substr(0, 120);
  }
}

TEST(PeerAnswer, RefusesTooManyChecks) {
  std::string body = R"({"v":1,"instance":"00","status":"ok","ready":true,"checks":{)";
  for (size_t i = 0; i <= kMaxPeerChecks; ++i) {
    body += (i ? "," : "") + std::string("\"c") + std::to_string(i) + "\":{\"status\":\"pass\"}";
  }
  body += "}}";
  PeerAnswer a;
  EXPECT_FALSE(ParsePeerAnswer(body, &a));
}

TEST(PeerAnswer, WhatThisPodRendersReadsBack) {
  HealthSnapshot s;
  CheckView db;
  db.name = "db";
  db.required = true;
  db.status = Status::kFail;
  CheckView cache;
  cache.name = "redis-cache";
  cache.status = Status::kPass;
  s.checks = {db, cache};
  const std::string body = RenderFleetSelf(s, PodInfo{"web-2", "shop", "node-b"});
  PeerAnswer a;
  ASSERT_TRUE(ParsePeerAnswer(body, &a)) << body;
  EXPECT_EQ(a.instance, InstanceId());
  EXPECT_EQ(a.name, "web-2");
  EXPECT_EQ(a.status, "error");  // the local verdict
  EXPECT_FALSE(a.ready);
  EXPECT_EQ(a.Find("db")->status, Status::kFail);
  EXPECT_EQ(a.Find("redis-cache")->status, Status::kPass);
}

}  // namespace
}  // namespace vigil
