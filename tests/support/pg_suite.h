// A PgServer shared by the tests of one gtest suite (initdb costs about a
// second): started in SetUpTestSuite, removed in TearDownTestSuite. Every
// test starts with the server running and resumed, and leaves it resumed; a
// server that did not start fails each test with the reason.
//
//   class MyPgTest : public testing::PgSuite<MyPgTest> {
//    public:
//     static testing::PgServerOptions ServerOptions() { return {...}; }
//   };
//
// One server per fixture class; ServerOptions() may be left out (trust, no
// extra settings).
#pragma once

#include <gtest/gtest.h>

#include <exception>
#include <string>

#include "tests/support/pg_server.h"

namespace vigil::testing {

template <typename Suite>
class PgSuite : public ::testing::Test {
 public:
  static PgServerOptions ServerOptions() { return {}; }

 protected:
  static void SetUpTestSuite() {
    try {
      server_ = new PgServer(Suite::ServerOptions());
    } catch (const std::exception& e) {
      setup_error_ = e.what();
    }
  }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }
  void SetUp() override {
    ASSERT_NE(server_, nullptr) << setup_error_;
    if (server_->paused()) server_->Resume();
    if (!server_->running()) {
      ASSERT_TRUE(server_->Start());
    }
  }
  void TearDown() override {
    if (server_ != nullptr && server_->paused()) server_->Resume();
  }

  static inline PgServer* server_ = nullptr;
  static inline std::string setup_error_;
};

// Options for a suite whose server wants `password` over TCP.
inline PgServerOptions PasswordOptions(const std::string& password) {
  PgServerOptions o;
  o.password = password;
  return o;
}

}  // namespace vigil::testing
