// Counter-based random numbers: the same hash as model/noise.go, so both
// engines draw identical dropout masks, word dropout and ε.
#pragma once
#include "common.cuh"

// mix64 is the splitmix64 finaliser.
__device__ __forceinline__ u64 mix64(u64 x) {
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    x ^= x >> 31;
    return x;
}

// noise_bits are the 64 random bits of element i of a stream under a step's key.
__device__ __forceinline__ u64 noise_bits(u64 key, int stream, long long i) {
    return mix64(key + ((u64)stream << 40) + (u64)i);
}

// dropped compares the top 24 bits with an integer threshold, exactly as
// the Go side does.
__device__ __forceinline__ bool dropped(u64 key, int stream, long long i, unsigned threshold) {
    return (unsigned)(noise_bits(key, stream, i) >> 40) < threshold;
}

// normal is Box–Muller on the top and bottom 24 bits of the hash.
__device__ __forceinline__ float normal(u64 key, int stream, long long i) {
    u64 h = noise_bits(key, stream, i);
    float u1 = ((float)(h >> 40) + 0.5f) * (1.0f / 16777216.0f);
    float u2 = (float)(h & 0xffffffULL) * (1.0f / 16777216.0f);
    return sqrtf(-2.0f * logf(u1)) * cosf(6.28318530717958647692f * u2);
}
