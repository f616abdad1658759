// cgap fixed-point primitives: the C++ twins of cgap/fixed_point.py (same bits, same order).
// Static, hand-written; copied verbatim into generated/<name>/firmware/.
#ifndef CGAP_FIXED_H
#define CGAP_FIXED_H

// GCC 12 reports a false "(maybe-)uninitialized" inside ap_private.h when ap_int constructors are
// inlined; silence exactly that warning for the vendor header only (C-sim with g++).
#if defined(__GNUC__) && !defined(__clang__) && !defined(__SYNTHESIS__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#include <ap_int.h>
#pragma GCC diagnostic pop
#else
#include <ap_int.h>
#endif

#include "cgap_config.h"

// HLS pragmas go through this macro so that g++ -Wall (unknown-pragma) stays quiet in C-sim
// and macro arguments (tripcounts) are expanded before the pragma text is formed; loop labels
// (for synthesis reports) likewise exist only for the HLS tools.
#ifdef __SYNTHESIS__
#define CGAP_PRAGMA_STR(x) _Pragma(#x)
#define CGAP_PRAGMA(x) CGAP_PRAGMA_STR(x)
#define CGAP_LABEL(x) x:
#else
#define CGAP_PRAGMA(x)
#define CGAP_LABEL(x)
#endif

typedef ap_int<CGAP_ACT_BITS> act_t;          // activations, per-tensor binary point
typedef ap_int<CGAP_WEIGHT_BITS> wgt_t;       // weights (and bias words) in the weight image
typedef ap_int<CGAP_ACC_BITS> acc_t;          // MAC accumulators: wrap like two's complement
typedef ap_int<CGAP_ACC_BITS + 2> wide_t;     // headroom for rounding and alignment
typedef ap_uint<CGAP_WEIGHT_BITS> wbits_t;
typedef ap_uint<CGAP_PORT_BITS> beat_t;       // one beat of an m_axi port

static const int CGAP_ACT_MAX = (1 << (CGAP_ACT_BITS - 1)) - 1;
static const int CGAP_ACT_MIN = -(1 << (CGAP_ACT_BITS - 1));

// Instrumentation (C-sim only), per engine layer: II=1 pipeline iterations, saturation events and
// DRAM beats moved (weight-port reads, feature-map reads, feature-map writes); cycles: cgap_engine.h.
#ifndef __SYNTHESIS__
extern unsigned long long cgap_iterations[CGAP_NUM_LAYERS];
extern unsigned long long cgap_saturations[CGAP_NUM_LAYERS];
extern unsigned long long cgap_dram_read_w[CGAP_NUM_LAYERS];
extern unsigned long long cgap_dram_read_a[CGAP_NUM_LAYERS];
extern unsigned long long cgap_dram_write[CGAP_NUM_LAYERS];
extern unsigned long long cgap_cycles[CGAP_NUM_LAYERS];
extern unsigned long long cgap_compute_cycles[CGAP_NUM_LAYERS];
#define CGAP_COUNT_ITER(l) (cgap_iterations[(l)]++)
#define CGAP_COUNT_SAT(l) (cgap_saturations[(l)]++)
#else
#define CGAP_COUNT_ITER(l) ((void)(l))
#define CGAP_COUNT_SAT(l) ((void)(l))
#endif

// x * 2^-s rounded half-up: ((x >> (s-1)) + 1) >> 1 for s > 0, x << -s otherwise.
static inline wide_t cgap_shift_round(wide_t x, int s) {
    if (s > 0) {
        wide_t t = x >> (unsigned)(s - 1);
        t += 1;
        return t >> 1;
    }
    return x << (unsigned)(-s);
}

// Move a value s bits up into the accumulator's binary point (round down when s < 0).
static inline wide_t cgap_align(wide_t v, int s) { return cgap_shift_round(v, -s); }

// Requantise an accumulator: round-shift, saturate to act_t, optional ReLU; counts saturations
// (with ReLU only positive overflows count: negative ones become 0 either way).
static inline act_t cgap_requant(acc_t acc, int shift, bool relu, int layer) {
    const wide_t y = cgap_shift_round(wide_t(acc), shift);
    if (y > CGAP_ACT_MAX) {
        CGAP_COUNT_SAT(layer);
        return act_t(CGAP_ACT_MAX);
    }
    if (relu && y < 0) return act_t(0);
    if (y < CGAP_ACT_MIN) {
        CGAP_COUNT_SAT(layer);
        return act_t(CGAP_ACT_MIN);
    }
    return act_t(y);
}

#endif  // CGAP_FIXED_H
