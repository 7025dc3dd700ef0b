// sy_probe: prints the io_uring probe as one line of JSON (for fingerprints).
#include <cstdio>

#include "runners/probe.hpp"

int main() {
    std::printf("%s\n", sy::uring_support_json().c_str());
    return 0;
}
