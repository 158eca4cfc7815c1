// Request framing (the fields the Api needs, refusals) and the response
// writer, as pure functions.
#include <gtest/gtest.h>

#include "agent/http/http_framing.h"
#include "agent/http/http_writer.h"

namespace vigil {
namespace {

ServerLimits Limits() {
  ServerLimits l;
  l.max_header_bytes = 8192;
  l.max_body_bytes = 8192;
  return l;
}

TEST(HttpFraming, PicksOutMethodTargetAndTheHeadersTheApiReads) {
  const std::string in =
      "GET /readyz?verbose HTTP/1.1\r\nHost: x\r\nAccept: application/health+json\r\n"
      "Authorization: Bearer abc\r\nRange: bytes=0-1\r\nAccept-Encoding: br\r\n\r\nGET /";
  const Framed f = FrameRequest(in, Limits());
  ASSERT_EQ(f.frame, Frame::kReady);
  EXPECT_EQ(f.method, "GET");
  EXPECT_EQ(f.target, "/readyz?verbose");
  EXPECT_EQ(f.accept, "application/health+json");
  EXPECT_EQ(f.authorization, "Bearer abc");
  EXPECT_EQ(f.head_len, in.size() - 5);
  EXPECT_EQ(f.body_len, 0u);
  EXPECT_FALSE(f.http10);
  EXPECT_FALSE(f.connection_close);
}

TEST(HttpFraming, ConnectionOptionsAndHttp10) {
  // The views point into the buffer: it must outlive them.
  const std::string close = "GET / HTTP/1.1\r\nHost: x\r\nConnection: foo, Close\r\n\r\n";
  Framed f = FrameRequest(close, Limits());
  ASSERT_EQ(f.frame, Frame::kReady);
  EXPECT_TRUE(f.connection_close);
  const std::string http10 = "HEAD /livez HTTP/1.0\r\nConnection: keep-alive\r\n\r\n";
  f = FrameRequest(http10, Limits());
  ASSERT_EQ(f.frame, Frame::kReady);
  EXPECT_EQ(f.method, "HEAD");
  EXPECT_TRUE(f.http10);
  EXPECT_TRUE(f.connection_keep_alive);
}

TEST(HttpFraming, IncompleteAndRefused) {
  EXPECT_EQ(FrameRequest("GET /livez HTTP/1.1\r\nHost: x\r\n", Limits()).frame, Frame::kNeedMore);
  const Framed bad = FrameRequest("\x16\x03\x01\x02", Limits());
  EXPECT_EQ(bad.frame, Frame::kRefuse);
  EXPECT_EQ(bad.status, 400);
  const Framed te =
      FrameRequest("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n", Limits());
  EXPECT_EQ(te.status, 501);
  const std::string big = "GET / HTTP/1.1\r\nHost: x\r\nX: " + std::string(9000, 'a') + "\r\n\r\n";
  EXPECT_EQ(FrameRequest(big, Limits()).status, 431);
}

TEST(HttpWriter, WholeBodyWithLengthAndConnectionHeaders) {
  HttpResponse r;
  r.status = 503;
  r.content_type = "application/json";
  r.body = "{\"a\":1}";
  r.headers.emplace_back("Cache-Control", "no-store");
  std::string out;
  WriteOptions o;
  o.keep_alive_timeout_s = 5;
  WriteResponse(r, o, &out);
  EXPECT_EQ(out,
            "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
            "Content-Length: 7\r\nCache-Control: no-store\r\nKeep-Alive: timeout=5\r\n\r\n"
            "{\"a\":1}");
}

TEST(HttpWriter, HeadHasTheLengthButNoBodyAndCloseIsSaid) {
  HttpResponse r;
  r.body = "ok\n";
  std::string out;
  WriteOptions o;
  o.head = true;
  o.close = true;
  WriteResponse(r, o, &out);
  EXPECT_NE(out.find("Content-Length: 3\r\n"), std::string::npos);
  EXPECT_NE(out.find("Connection: close\r\n"), std::string::npos);
  EXPECT_EQ(out.substr(out.size() - 4), "\r\n\r\n");
}

TEST(HttpWriter, ReasonPhrases) {
  EXPECT_STREQ(ReasonPhrase(200), "OK");
  EXPECT_STREQ(ReasonPhrase(429), "Too Many Requests");
  EXPECT_STREQ(ReasonPhrase(431), "Request Header Fields Too Large");
}

}  // namespace
}  // namespace vigil
