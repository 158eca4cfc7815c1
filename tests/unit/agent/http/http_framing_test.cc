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
      FrameRequest("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", Limits());
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

namespace vigil {
namespace {

// Issue 20: 414 from the first byte past the target limit, not 400 later.
TEST(HttpFraming, TargetOverTheLimitIs414AtOnce) {
  const std::string at_limit = "GET /" + std::string(kMaxTargetBytes - 1, 'a');
  EXPECT_EQ(FrameRequest(at_limit, Limits()).frame, Frame::kNeedMore);
  const Framed over = FrameRequest(at_limit + "a", Limits());
  EXPECT_EQ(over.frame, Frame::kRefuse);
  EXPECT_EQ(over.status, 414);
  for (size_t n : {size_t{4097}, size_t{6000}, size_t{8100}}) {
    const std::string req = "GET /" + std::string(n - 1, 'a') + " HTTP/1.1\r\nHost: x\r\n\r\n";
    EXPECT_EQ(FrameRequest(req, Limits()).status, 414) << n;
  }
}

// Issue 20: RFC 9112 3.2 and RFC 3986 3.2.2.
TEST(HttpFraming, InvalidHostIs400) {
  for (const char* host :
       {"a b <script>", "a<b", "x/y", "x@y", "[::1", "h:port", "h:123456", "\"h\"", "a{b}"}) {
    const std::string req = std::string("GET / HTTP/1.1\r\nHost: ") + host + "\r\n\r\n";
    const Framed f = FrameRequest(req, Limits());
    EXPECT_EQ(f.frame, Frame::kRefuse) << host;
    EXPECT_EQ(f.status, 400) << host;
  }
  for (const char* host : {"", "x", "10.0.0.1:8086", "[::1]:8086", "[::1]", "vigil.ns.svc",
                           "my_host", "xn--bcher-kva.example"}) {
    const std::string req = std::string("GET / HTTP/1.1\r\nHost: ") + host + "\r\n\r\n";
    EXPECT_EQ(FrameRequest(req, Limits()).frame, Frame::kReady) << host;
  }
}

// Issue 20: a chunked body is read, bounded, and skipped; not 501.
TEST(HttpFraming, ChunkedBodiesAreReadAndBounded) {
  const std::string head = "POST /livez HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: Chunked\r\n\r\n";
  const std::string body = "4;ext=1\r\nabcd\r\n0\r\nTrailer: t\r\n\r\n";
  const std::string whole = head + body + "GET /";
  Framed f = FrameRequest(whole, Limits());
  ASSERT_EQ(f.frame, Frame::kReady);
  EXPECT_EQ(f.head_len, head.size());
  EXPECT_EQ(f.body_len, body.size());
  for (size_t cut = 0; cut < body.size(); ++cut) {
    const std::string part = head + body.substr(0, cut);
    EXPECT_EQ(FrameRequest(part, Limits()).frame, Frame::kNeedMore) << cut;
  }
  const std::string big = head + "2001\r\n";  // 8 KiB + 1 in one chunk
  EXPECT_EQ(FrameRequest(big, Limits()).status, 413);
  std::string many = head;
  for (int i = 0; i < 3000; ++i) many += "1\r\na\r\n";
  EXPECT_EQ(FrameRequest(many, Limits()).status, 413);
  for (const char* bad : {"x\r\n", "4\r\nabcdXX", "4\nabcd\r\n", "123456789\r\n"}) {
    EXPECT_EQ(FrameRequest(head + bad, Limits()).status, 400) << bad;
  }
  const std::string both =
      "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n";
  EXPECT_EQ(FrameRequest(both, Limits()).status, 400);
}

// Issue 20: "Expect: 100-continue" is seen as soon as the head is there.
TEST(HttpFraming, ExpectContinueIsSeenBeforeTheBody) {
  const std::string cl =
      "POST /livez HTTP/1.1\r\nHost: x\r\nExpect: 100-Continue\r\nContent-Length: 5\r\n\r\n";
  Framed f = FrameRequest(cl, Limits());
  ASSERT_EQ(f.frame, Frame::kReady);
  EXPECT_TRUE(f.expect_continue);
  EXPECT_FALSE(FrameRequest(cl + "hello", Limits()).expect_continue);  // nothing to wait for
  const std::string chunked =
      "POST /livez HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nTransfer-Encoding: "
      "chunked\r\n\r\n";
  f = FrameRequest(chunked, Limits());
  EXPECT_EQ(f.frame, Frame::kNeedMore);
  EXPECT_TRUE(f.expect_continue);
  const std::string http10 =
      "POST /livez HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n";
  EXPECT_FALSE(FrameRequest(http10, Limits()).expect_continue);
}

}  // namespace
}  // namespace vigil
