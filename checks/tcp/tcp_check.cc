#include "checks/tcp/tcp_check.h"

#include <unistd.h>

#include "checks/common/net.h"

namespace vigil {
namespace {

// A fresh connection per run on purpose: what is checked is that the app
// still accepts, and a kept-open socket would not notice a full backlog.
class TcpCheck final : public Check {
 public:
  TcpCheck(std::string host, int port) : host_(std::move(host)), port_(port) {}

  CheckResult Run(Deadline deadline) override {
    int fd = -1;
    NetResult r = ConnectTcp(host_, port_, deadline, &fd);
    if (r.status == NetStatus::kTimeout) return CheckResult::Timeout(r.error);
    if (r.status == NetStatus::kError) return CheckResult::Fail(r.kind, r.error);
    close(fd);
    return CheckResult::Pass();
  }

  std::string Target() const override {
    if (host_.find(':') != std::string::npos) return "[" + host_ + "]:" + std::to_string(port_);
    return host_ + ":" + std::to_string(port_);
  }

 private:
  const std::string host_;
  const int port_;
};

}  // namespace

CheckKind TcpCheckKind() {
  CheckKind kind;
  kind.name = "tcp";
  kind.display_name = "TCP";
  kind.component_type = "component";
  kind.keys = {"address"};
  kind.default_role = "app";
  kind.create = [](const CheckSpec& spec) -> std::unique_ptr<Check> {
    std::string address = spec.RequireString("address");
    std::string host;
    int port = 0;
    // The value is never repeated: a URL with its password pasted here by
    // mistake would end up in the log.
    if (address.find("://") != std::string::npos) {
      throw ConfigError(spec.Field("address"), "expected HOST:PORT, not a URL");
    }
    if (!SplitHostPort(address, &host, &port) || host.empty() || port == 0) {
      throw ConfigError(spec.Field("address"), "expected HOST:PORT (e.g. 127.0.0.1:3000)");
    }
    return std::make_unique<TcpCheck>(host, port);
  };
  return kind;
}

}  // namespace vigil
