// Shared by the libFuzzer harnesses: a failed property prints what it was
// given and aborts, which libFuzzer reports as a crash (and saves the input).
#pragma once

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

namespace vigil::fuzz {

// `what` failed for `input`; `output` is what the code under test produced.
[[noreturn]] inline void Fail(const char* what, const std::string& input,
                              const std::string& output) {
  std::fprintf(stderr, "\nPROPERTY FAILED: %s\n  input:  %s\n  output: %s\n", what, input.c_str(),
               output.c_str());
  std::abort();
}

inline void Require(bool ok, const char* what, const std::string& input,
                    const std::string& output = "") {
  if (!ok) Fail(what, input, output);
}

// Splits `s` at `sep` into at most `max` fields (the last one takes the rest).
inline std::vector<std::string> SplitFields(const std::string& s, char sep, size_t max) {
  std::vector<std::string> out;
  size_t start = 0;
  while (out.size() + 1 < max) {
    size_t pos = s.find(sep, start);
    if (pos == std::string::npos) break;
    out.push_back(s.substr(start, pos - start));
    start = pos + 1;
  }
  out.push_back(s.substr(start));
  while (out.size() < max) out.emplace_back();
  return out;
}

}  // namespace vigil::fuzz
