// Message format of switchyard-load and its byte-exact verification.
//
// A message is `size` bytes: an 8-byte little-endian header holding the
// message's sequence number on its connection, then `size - 8` payload bytes
// taken from a fixed pseudo-random pattern block at an offset derived from
// (connection, sequence). The echo server returns the byte stream unchanged
// (it may split or merge reads), so the client reassembles by byte count and
// compares every received byte with the bytes it would have generated for that
// position: a lost, duplicated, reordered, cross-connection or flipped byte is
// a mismatch. Comparing against the regenerated message is strictly stronger
// than a checksum of it and costs one memcmp per chunk.
//
// Generating a payload is a memcpy from the block (no per-byte work), so a
// 16 KiB message costs the client about as much as the kernel's own copy.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

namespace sy::load {

inline constexpr std::size_t kHeaderBytes = 8;
// Distinct payload offsets per (connection, sequence): a power of two.
inline constexpr std::size_t kPatternWindow = 4096;

inline constexpr std::uint64_t splitmix64(std::uint64_t x) {
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

class wire_codec {
public:
    explicit wire_codec(std::size_t size) : size_(size), block_(kPatternWindow + size, 0) {
        std::uint64_t state = 0x5377697463687961ull;  // "Switchya"
        for (std::size_t i = 0; i < block_.size(); i += 8) {
            state = splitmix64(state);
            std::memcpy(block_.data() + i, &state, std::min<std::size_t>(8, block_.size() - i));
        }
    }

    std::size_t size() const { return size_; }

    static std::size_t payload_offset(std::uint32_t conn, std::uint64_t seq) {
        return splitmix64((std::uint64_t{conn} << 40) ^ seq) & (kPatternWindow - 1);
    }

    // Writes message (conn, seq) to dst[0, size).
    void write(std::uint32_t conn, std::uint64_t seq, std::uint8_t* dst) const {
        std::uint8_t hdr[kHeaderBytes];
        header(seq, hdr);
        std::memcpy(dst, hdr, kHeaderBytes);
        std::memcpy(dst + kHeaderBytes, block_.data() + payload_offset(conn, seq),
                    size_ - kHeaderBytes);
    }

    // True if p[0, n) equals bytes [off, off + n) of message (conn, seq).
    bool matches(std::uint32_t conn, std::uint64_t seq, std::size_t off,
                 const std::uint8_t* p, std::size_t n) const {
        if (off < kHeaderBytes) {
            std::uint8_t hdr[kHeaderBytes];
            header(seq, hdr);
            const std::size_t h = std::min(n, kHeaderBytes - off);
            if (std::memcmp(p, hdr + off, h) != 0) return false;
            p += h;
            n -= h;
            off += h;
        }
        if (n == 0) return true;
        const std::uint8_t* want = block_.data() + payload_offset(conn, seq) + (off - kHeaderBytes);
        return std::memcmp(p, want, n) == 0;
    }

private:
    static void header(std::uint64_t seq, std::uint8_t out[kHeaderBytes]) {
        for (std::size_t i = 0; i < kHeaderBytes; ++i) out[i] = static_cast<std::uint8_t>(seq >> (8 * i));
    }

    std::size_t size_;
    std::vector<std::uint8_t> block_;
};

}  // namespace sy::load
