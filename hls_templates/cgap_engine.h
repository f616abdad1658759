// cgap engine kernels: one reusable engine driven by the generated layer table (cgap_layers.h).
// Static, hand-written; copied verbatim into generated/<name>/firmware/.  The loop nest of every
// kind is exactly the one documented in fpga_model/schedule.py and costed by fpga_model/engine_sim.py;
// CGAP_COUNT_ITER marks the MAC (or element-wise) step whose trip count schedule.compute_iterations
// predicts, and the CGAP_COUNT_* cycle macros count what HLS schedules (fpga_model/SIMULATOR.md).
//
// Architecture (DESIGN.md section 3):
// * Ping-pong, manual form.  Every layer walks its tiles in tile steps s = 0 .. T+1; step s loads
//   tile s, computes tile s-1 and stores tile s-2.  Each tile buffer exists twice and the step
//   function is called from branches on the tile parity with the copies swapped, so inside one step
//   the load, compute and store stages (INLINE off, descriptor and tiles passed by value) touch
//   disjoint arrays and separate AXI ports: HLS runs the three calls concurrently and a tile step
//   takes max(load, compute, store); g++ runs them one after another with the same result.
// * Wide ports.  fmap_in (reads), fmap_out (writes) and weights are ap_uint<CGAP_PORT_BITS> m_axi
//   ports; a beat carries CGAP_V activation (CGAP_VW weight) words.  Feature-map rows are padded to
//   whole beats in DRAM (fpga_model/layout.py), so a beat never spans two rows: a load beat writes V
//   consecutive columns into V distinct column banks, a store beat reads them back.  Every DRAM loop
//   is one burst over contiguous beats (one per tensor when a tile spans whole planes).
// * Busy MAC array.  A conv tile's blocks (Pof x Poy x Pox outputs) run in ONE flattened II=1 loop:
//   each block takes max(steps, Poy*Pox) iterations; while block b accumulates, the accumulators of
//   block b-1 (held in a shadow copy) drain one (py, px) position per cycle through Pof requantisers
//   (bias, residual, shift-round, saturate, ReLU) into an output tile banked Pof x NB.
// * Stores at II=1: a fused pool keeps V max/sum registers per output beat (window positions inner),
//   no read-modify-write of arrays; averages divide by a reciprocal multiply chosen in Python so the
//   result equals floor((2x + n) / 2n) bit for bit (cgap/fixed_point.py: reciprocal).
// * Banked buffers: conv input tile IB_R x IB_C banks (IB_C >= Pox*stride and >= V); zero padding is
//   never stored: the window read masks positions outside the image.  Weights Pof lane banks, biases
//   Pof banks, conv output / residual tiles Pof x NB (NB >= V, coprime with the fused pool widths).
// * Element-wise layers (pool, gap, add, standalone ReLU) stream through a V-lane unit sized to the memory
//   port, compiled in only for the kinds the network uses (see the element-wise unit below).
#ifndef CGAP_ENGINE_H
#define CGAP_ENGINE_H

#include "cgap_fixed.h"
#include "cgap_layers.h"

static inline int cgap_min(int a, int b) { return a < b ? a : b; }
static inline int cgap_max(int a, int b) { return a > b ? a : b; }
static inline int cgap_cdiv(int a, int b) { return (a + b - 1) / b; }

// Word j of a feature-map beat, and the beat with word j replaced.
static inline act_t cgap_act_word(const beat_t &b, int j) {
    act_t v;
    v.range(CGAP_ACT_BITS - 1, 0) = b.range(j * CGAP_ACT_BITS + CGAP_ACT_BITS - 1, j * CGAP_ACT_BITS);
    return v;
}

static inline void cgap_put_act_word(beat_t &b, int j, act_t v) {
    b.range(j * CGAP_ACT_BITS + CGAP_ACT_BITS - 1, j * CGAP_ACT_BITS) = v.range(CGAP_ACT_BITS - 1, 0);
}

static inline wgt_t cgap_wgt_word(const beat_t &b, int j) {
    wgt_t v;
    v.range(CGAP_WEIGHT_BITS - 1, 0) = b.range(j * CGAP_WEIGHT_BITS + CGAP_WEIGHT_BITS - 1, j * CGAP_WEIGHT_BITS);
    return v;
}

// x / n rounded half-up, floor((2x + n) / 2n), as a multiply by m = ceil(2^s / 2n) and a shift (exact for
// |2x + n| < 2^CGAP_DIV_ABITS; Python chooses m and s per divisor: cgap/fixed_point.py reciprocal).
static inline act_t cgap_div_recip(acc_t x, int n, ap_uint<CGAP_DIV_MBITS> m, int s) {
    const ap_int<CGAP_DIV_ABITS + 1> a = ap_int<CGAP_DIV_ABITS + 1>(x) * 2 + n;
    const bool neg = a < 0;
    const ap_uint<CGAP_DIV_ABITS> mag = neg ? ap_uint<CGAP_DIV_ABITS>(-a + 2 * n - 1) : ap_uint<CGAP_DIV_ABITS>(a);
    const ap_uint<CGAP_DIV_ABITS + CGAP_DIV_MBITS> prod = mag * m;
    const ap_uint<CGAP_DIV_ABITS> q = ap_uint<CGAP_DIV_ABITS>(prod >> (unsigned)s);
    return neg ? act_t(-ap_int<CGAP_DIV_ABITS + 1>(q)) : act_t(q);
}

// ----------------------------------------------------------------------------------- cycle counting
// C-sim only (no-ops for synthesis).  Per tile step the three stages add what their loops take:
// a loop that moves DRAM beats costs CGAP_DRAM_LATENCY + its iterations, any other II=1 loop
// CGAP_PIPELINE_DEPTH + its iterations.  cgap_count_step closes the step: max(load, compute, store,
// DRAM device time) cycles, where the device time is the beats of both directions at the device's
// sustained rate, plus row misses and a read/write turnaround.
#ifndef __SYNTHESIS__
#define CGAP_PORT_FMAP_RD 0
#define CGAP_PORT_FMAP_WR 1
#define CGAP_PORT_WEIGHTS 2
struct CgapStepCount {
    unsigned long long stage[3];     // load, compute, store cycles of the step
    unsigned long long beats[3];     // beats moved per port (CGAP_PORT_*)
    unsigned long long misses[2];    // DRAM row misses of reads, writes
    unsigned long long burst_start;  // beats of the open burst's port when it began
};
extern CgapStepCount cgap_step;
#define CGAP_LOAD 0
#define CGAP_COMPUTE 1
#define CGAP_STORE 2
static inline void cgap_count_loop(int stage) { cgap_step.stage[stage] += CGAP_PIPELINE_DEPTH; }
static inline void cgap_count_cycle(int stage) { cgap_step.stage[stage] += 1; }
static inline void cgap_burst_begin(int stage, int port) {
    cgap_step.stage[stage] += CGAP_DRAM_LATENCY;
    cgap_step.burst_start = cgap_step.beats[port];
}
static inline void cgap_count_beat(int stage, int port) {
    cgap_step.stage[stage] += 1;
    cgap_step.beats[port] += 1;
}
static inline void cgap_count_wait(int stage) { cgap_step.stage[stage] += 1; }  // a burst loop cycle moving no beat
static inline void cgap_burst_end(int port) {
    const unsigned long long bytes = (cgap_step.beats[port] - cgap_step.burst_start) * (CGAP_PORT_BITS / 8);
    cgap_step.misses[port == CGAP_PORT_FMAP_WR] += (bytes + CGAP_DRAM_ROW_BYTES - 1) / CGAP_DRAM_ROW_BYTES;
}
static inline unsigned long long cgap_device_cycles(unsigned long long beats, unsigned long long misses) {
    return (beats * CGAP_DRAM_BEAT_X1024 + 1023) / 1024 + misses * CGAP_DRAM_MISS_CYCLES;
}
static inline void cgap_count_step(int li) {
    const unsigned long long reads = cgap_step.beats[CGAP_PORT_FMAP_RD] + cgap_step.beats[CGAP_PORT_WEIGHTS];
    const unsigned long long writes = cgap_step.beats[CGAP_PORT_FMAP_WR];
    const unsigned long long turn = reads > 0 && writes > 0 ? 2 * CGAP_DRAM_TURNAROUND : 0;
    unsigned long long step = cgap_device_cycles(reads, cgap_step.misses[0]) + cgap_device_cycles(writes, cgap_step.misses[1]) + turn;
    for (int k = 0; k < 3; k++) {
        if (cgap_step.stage[k] > step) step = cgap_step.stage[k];
    }
    cgap_cycles[li] += step;
    cgap_compute_cycles[li] += cgap_step.stage[CGAP_COMPUTE];
    cgap_dram_read_a[li] += cgap_step.beats[CGAP_PORT_FMAP_RD];
    cgap_dram_write[li] += cgap_step.beats[CGAP_PORT_FMAP_WR];
    cgap_dram_read_w[li] += cgap_step.beats[CGAP_PORT_WEIGHTS];
    cgap_step = CgapStepCount();
}
#define CGAP_COUNT_LOOP(stage) cgap_count_loop(stage)
#define CGAP_COUNT_CYCLE(stage) cgap_count_cycle(stage)
#define CGAP_BURST_BEGIN(stage, port) cgap_burst_begin(stage, port)
#define CGAP_COUNT_BEAT(stage, port) cgap_count_beat(stage, port)
#define CGAP_COUNT_WAIT(stage) cgap_count_wait(stage)
#define CGAP_BURST_END(port) cgap_burst_end(port)
#define CGAP_COUNT_STEP(li) cgap_count_step(li)
#else
#define CGAP_COUNT_LOOP(stage)
#define CGAP_COUNT_CYCLE(stage)
#define CGAP_BURST_BEGIN(stage, port)
#define CGAP_COUNT_BEAT(stage, port)
#define CGAP_COUNT_WAIT(stage)
#define CGAP_BURST_END(port)
#define CGAP_COUNT_STEP(li) ((void)(li))
#endif

// ------------------------------------------------------------------------------------- banked windows

// Read the Poy x Pox window at rows r0 + py*sh, columns c0 + px*sw of a buffer banked BR x BC
// (element (r, c) in bank (r % BR, c % BC) at word (r / BR) * cbw + c / BC).  Needs Poy*sh <= BR and
// Pox*sw <= BC.  Every bank is read once (its row and column in [r0, r0+BR) x [c0, c0+BC)), then
// each lane picks its bank: a BR x BC crossbar.  Words outside [rmin, rmax) x [cmin, cmax) read 0 (zero
// padding and rows/columns never loaded).
template <int BR, int BC, int D>
static void cgap_window(const act_t buf[BR][BC][D], int r0, int c0, int sh, int sw, int rmin, int rmax, int cmin,
                        int cmax, int cbw, act_t win[CGAP_POY][CGAP_POX]) {
    act_t bank[BR][BC];
    CGAP_PRAGMA(HLS ARRAY_PARTITION variable=bank complete dim=0)
    const int rq = r0 / BR, rm = r0 % BR, cq = c0 / BC, cm = c0 % BC;
CGAP_LABEL(WIN_R)
    for (int rb = 0; rb < BR; rb++) {
        CGAP_PRAGMA(HLS UNROLL)
        const int gr = rq + (rb < rm ? 1 : 0), r = gr * BR + rb;
    CGAP_LABEL(WIN_C)
        for (int cb = 0; cb < BC; cb++) {
            CGAP_PRAGMA(HLS UNROLL)
            const int gc = cq + (cb < cm ? 1 : 0), c = gc * BC + cb;
            const bool inside = r >= rmin && r < rmax && c >= cmin && c < cmax;
            bank[rb][cb] = inside ? buf[rb][cb][gr * cbw + gc] : act_t(0);
        }
    }
CGAP_LABEL(WIN_Y)
    for (int py = 0; py < CGAP_POY; py++) {
        CGAP_PRAGMA(HLS UNROLL)
        int rb = rm + py * sh;
        if (rb >= BR) rb -= BR;
    CGAP_LABEL(WIN_X)
        for (int px = 0; px < CGAP_POX; px++) {
            CGAP_PRAGMA(HLS UNROLL)
            int cb = cm + px * sw;
            if (cb >= BC) cb -= BC;
            win[py][px] = bank[rb][cb];
        }
    }
}

// ------------------------------------------------------------------------------------- conv tiles

typedef act_t cgap_ibuf_t[CGAP_IB_R][CGAP_IB_C][CGAP_IBUF_DEPTH];
typedef act_t cgap_obuf_t[CGAP_POF][CGAP_NB][CGAP_OBUF_DEPTH];
typedef act_t cgap_rbuf_t[CGAP_POF][CGAP_NB][CGAP_RBUF_DEPTH];
typedef wgt_t cgap_wbuf_t[CGAP_POF][CGAP_WBUF_DEPTH];
typedef acc_t cgap_bbuf_t[CGAP_POF][CGAP_BBUF_DEPTH];

#if CGAP_HAS_PSUM
typedef acc_t cgap_pbuf_t[CGAP_POF][CGAP_NB][CGAP_PSUM_DEPTH];
#endif

// One conv tile: output channels [f0, f0+tof), output rows [y0, y0+toy), output columns [x0, x0+tox), input
// channels [i0, i0+tif).  Tiles run f0, y0, x0 outer to inner, i0 innermost: the partial sums of an output tile
// stay on chip (psum) across its input-channel tiles; the first adds the bias, the last requantises and stores.
// wk counts the weight loads so far (the weight copy a tile computes from is wk & 1); wload: this tile loads
// weights and biases (every tile when the input channels are tiled, else the first (y0, x0) of each f0).
struct CgapConvTile {
    int valid, wk, f0, tof, y0, toy, x0, tox, i0, tif, wload, first, last;
};

static CgapConvTile cgap_conv_tile(const LayerDesc &L, int wk, int f0, int y0, int x0, int i0) {
    CgapConvTile t;
    t.valid = f0 < L.nof;
    t.f0 = f0;
    t.y0 = y0;
    t.x0 = x0;
    t.i0 = i0;
    t.tof = cgap_min(L.tof, L.nof - f0);
    t.toy = cgap_min(L.toy, L.noy - y0);
    t.tox = cgap_min(L.tox, L.nox - x0);
    t.tif = cgap_min(L.tif, L.nif - i0);
    t.wload = L.tif < L.nif || (y0 == 0 && x0 == 0);
    t.wk = wk + (t.wload ? 1 : 0);
    t.first = i0 == 0;
    t.last = i0 + L.tif >= L.nif;
    return t;
}

static CgapConvTile cgap_conv_next(const LayerDesc &L, const CgapConvTile &t) {
    if (!t.valid) return t;
    if (t.i0 + L.tif < L.nif) return cgap_conv_tile(L, t.wk, t.f0, t.y0, t.x0, t.i0 + L.tif);
    if (t.x0 + L.tox < L.nox) return cgap_conv_tile(L, t.wk, t.f0, t.y0, t.x0 + L.tox, 0);
    if (t.y0 + L.toy < L.noy) return cgap_conv_tile(L, t.wk, t.f0, t.y0 + L.toy, 0, 0);
    return cgap_conv_tile(L, t.wk, t.f0 + L.tof, 0, 0, 0);
}

static CgapConvTile cgap_conv_none() {
    CgapConvTile t;
    t.valid = 0;
    t.wk = -1;
    t.f0 = t.tof = t.y0 = t.toy = t.x0 = t.tox = t.i0 = t.tif = t.wload = t.first = t.last = 0;
    return t;
}

// Weights of the tile's Pof groups for its input channels (image order [group][step][lane], CGAP_WROW words a
// step) into wbuf[lane][step * groups + group]: a beat holds one step's words for CGAP_VW lanes.  One burst for
// all groups when the tile has every input channel, else one per group (its steps i0*kh*kw onwards).
static void cgap_load_weights(const LayerDesc &L, const CgapConvTile &t, const beat_t *wmem, cgap_wbuf_t wbuf) {
    const int all_steps = L.nif * L.kh * L.kw, steps = t.tif * L.kh * L.kw, groups = cgap_cdiv(t.tof, CGAP_POF);
    const int row_beats = CGAP_WROW / CGAP_VW, whole = t.tif == L.nif;
    const int segments = whole ? 1 : groups, beats = (whole ? groups : 1) * steps * row_beats;
CGAP_LABEL(LW_SEG)
    for (int sg = 0; sg < segments; sg++) {
        CGAP_PRAGMA(HLS loop_tripcount min=1 max=CGAP_MAX_GROUPS)
        const beat_t *src = wmem + L.w_off + ((t.f0 / CGAP_POF + sg) * all_steps + t.i0 * L.kh * L.kw) * row_beats;
        int q = 0, s = 0, g = sg;  // beat within the step's row, step, group
        CGAP_BURST_BEGIN(CGAP_LOAD, CGAP_PORT_WEIGHTS);
    CGAP_LABEL(LW_BURST)
        for (int k = 0; k < beats; k++) {
            CGAP_PRAGMA(HLS loop_tripcount min=1 max=CGAP_MAX_WBEATS)
            CGAP_PRAGMA(HLS PIPELINE II=1)
            CGAP_COUNT_BEAT(CGAP_LOAD, CGAP_PORT_WEIGHTS);
            const beat_t b = src[k];
        CGAP_LABEL(LW_LANES)
            for (int j = 0; j < CGAP_VW; j++) {
                CGAP_PRAGMA(HLS UNROLL)
                const int lane = q * CGAP_VW + j;
                if (lane < CGAP_POF) wbuf[lane][s * groups + g] = cgap_wgt_word(b, j);
            }
            if (++q == row_beats) {
                q = 0;
                if (++s == steps) {
                    s = 0;
                    g++;
                }
            }
        }
        CGAP_BURST_END(CGAP_PORT_WEIGHTS);
    }
}

// Biases of the tile's Pof groups (one burst, CGAP_BSLOT words a bias, low word first, groups padded to
// whole beats) into bbuf[lane][group].  A bias never straddles a beat when CGAP_BSLOT <= CGAP_VW; otherwise
// it is assembled over CGAP_BSLOT / CGAP_VW beats.
static void cgap_load_biases(const LayerDesc &L, const CgapConvTile &t, const beat_t *wmem, cgap_bbuf_t bbuf) {
    const int groups = cgap_cdiv(t.tof, CGAP_POF), per_group = CGAP_BGROUP / CGAP_VW;
    const beat_t *src = wmem + L.b_off + (t.f0 / CGAP_POF) * per_group;
    acc_t part = 0;
    int q = 0, g = 0;  // beat within the group, group
    CGAP_BURST_BEGIN(CGAP_LOAD, CGAP_PORT_WEIGHTS);
CGAP_LABEL(LB_BURST)
    for (int k = 0; k < groups * per_group; k++) {
        CGAP_PRAGMA(HLS loop_tripcount min=1 max=CGAP_MAX_BBEATS)
        CGAP_PRAGMA(HLS PIPELINE II=1)
        CGAP_COUNT_BEAT(CGAP_LOAD, CGAP_PORT_WEIGHTS);
        const beat_t b = src[k];
    CGAP_LABEL(LB_WORDS)
        for (int j = 0; j < CGAP_VW; j++) {
            CGAP_PRAGMA(HLS UNROLL)
            const int word = q * CGAP_VW + j, lane = word / CGAP_BSLOT, w = word % CGAP_BSLOT;
            if (w < CGAP_BIAS_WORDS) part |= acc_t(wbits_t(cgap_wgt_word(b, j))) << (w * CGAP_WEIGHT_BITS);
            if (w == CGAP_BSLOT - 1) {
                if (lane < CGAP_POF) bbuf[lane][g] = part;
                part = 0;
            }
        }
        if (++q == per_group) {
            q = 0;
            g++;
        }
    }
    CGAP_BURST_END(CGAP_PORT_WEIGHTS);
}

// Where a tile's feature-map transfer goes: `segments` bursts of `beats` beats; a burst covers whole planes
// (whole_w and whole_h), one channel's rows (whole_w) or one row's beats [b0, b0 + row_span) (a column tile).
struct CgapSpan {
    int segments, beats, b0, row_span;
};

static CgapSpan cgap_span(int channels, int rows, bool whole_h, bool whole_w, int rpb, int lo, int hi) {
    CgapSpan sp;
    sp.b0 = whole_w ? 0 : lo / CGAP_V;
    sp.row_span = whole_w ? rpb : cgap_cdiv(hi, CGAP_V) - sp.b0;
    sp.segments = whole_w ? (whole_h ? 1 : channels) : channels * rows;
    sp.beats = whole_w ? (whole_h ? channels : 1) * rows * rpb : sp.row_span;
    return sp;
}

// Input rows [lo, hi) and columns [clo, chi) of the tile's input channels into the IB_R x IB_C banks at row
// R = i*tiy + r (tile row r = input row y0*S - pt + r), column c = x - (x0*S - pl).  Whole planes, a channel's
// rows or a row's beats per burst (cgap_span).  Padding is never stored (the window masks it).
static void cgap_load_input(const LayerDesc &L, const CgapConvTile &t, const beat_t *fmap_in, cgap_ibuf_t ibuf) {
    const int rpb = cgap_cdiv(L.nix, CGAP_V), cbw = cgap_cdiv(L.tix, CGAP_IB_C);
    const int tiy = (t.toy - 1) * L.sh + L.kh, top = t.y0 * L.sh - L.pt;
    const int left = t.x0 * L.sw - L.pl, tix = (t.tox - 1) * L.sw + L.kw;
    const bool whole_w = L.tox >= L.nox;
    const int lo = cgap_max(top, 0), hi = cgap_min(L.niy, top + tiy);
    const int clo = whole_w ? 0 : cgap_max(left, 0), chi = whole_w ? L.nix : cgap_min(L.nix, left + tix);
    const CgapSpan sp = cgap_span(t.tif, hi - lo, lo == 0 && hi == L.niy, whole_w, rpb, clo, chi);
    int si = 0, sr = lo - top;  // channel (within the tile) and tile row the next segment starts at
CGAP_LABEL(LI_SEG)
    for (int sg = 0; sg < sp.segments; sg++) {
        CGAP_PRAGMA(HLS loop_tripcount min=1 max=CGAP_MAX_ISEGS)
        const beat_t *src = fmap_in + L.in_off + ((t.i0 + si) * L.niy + sr + top) * rpb + sp.b0;
        int i = si, r = sr, q = 0;  // channel, tile row, beat within the row
        CGAP_BURST_BEGIN(CGAP_LOAD, CGAP_PORT_FMAP_RD);
    CGAP_LABEL(LI_BURST)
        for (int k = 0; k < sp.beats; k++) {
            CGAP_PRAGMA(HLS loop_tripcount min=1 max=CGAP_MAX_IBEATS)
            CGAP_PRAGMA(HLS PIPELINE II=1)
            CGAP_COUNT_BEAT(CGAP_LOAD, CGAP_PORT_FMAP_RD);
            const beat_t b = src[k];
            const int row = i * tiy + r;
        CGAP_LABEL(LI_LANES)
            for (int j = 0; j < CGAP_V; j++) {
                CGAP_PRAGMA(HLS UNROLL)
                const int x = (sp.b0 + q) * CGAP_V + j, c = x - left;
                if (x >= clo && x < chi)
                    ibuf[row % CGAP_IB_R][c % CGAP_IB_C][(row / CGAP_IB_R) * cbw + c / CGAP_IB_C] = cgap_act_word(b, j);
            }
            if (++q == sp.row_span) {
                q = 0;
                if (++r == hi - top) {
                    r = lo - top;
                    i++;
                }
            }
        }
        CGAP_BURST_END(CGAP_PORT_FMAP_RD);
        if (whole_w || ++sr == hi - top) {
            sr = lo - top;
            si++;
        }
    }
}

// Residual tile (toy rows, tox columns of tof channels, at conv-output resolution) into
// rbuf[f % Pof][x % NB][...] (x within the tile): whole planes, a channel's rows or a row's beats per burst.
static void cgap_load_residual(const LayerDesc &L, const CgapConvTile &t, const beat_t *fmap_in, cgap_rbuf_t rbuf) {
    const int rpb = cgap_cdiv(L.nox, CGAP_V), obw = cgap_cdiv(L.tox, CGAP_NB);
    const bool whole_w = L.tox >= L.nox;
    const CgapSpan sp = cgap_span(t.tof, t.toy, t.toy == L.noy, whole_w, rpb, t.x0, t.x0 + t.tox);
    int sf = 0, sy = 0;  // channel (within the tile) and row the next segment starts at
CGAP_LABEL(LR_SEG)
    for (int sg = 0; sg < sp.segments; sg++) {
        CGAP_PRAGMA(HLS loop_tripcount min=1 max=CGAP_MAX_RSEGS)
        const beat_t *src = fmap_in + L.res_off + ((t.f0 + sf) * L.noy + t.y0 + sy) * rpb + sp.b0;
        int f = sf, y = sy, q = 0;
        CGAP_BURST_BEGIN(CGAP_LOAD, CGAP_PORT_FMAP_RD);
    CGAP_LABEL(LR_BURST)
        for (int k = 0; k < sp.beats; k++) {
            CGAP_PRAGMA(HLS loop_tripcount min=1 max=CGAP_MAX_RBEATS)
            CGAP_PRAGMA(HLS PIPELINE II=1)
            CGAP_COUNT_BEAT(CGAP_LOAD, CGAP_PORT_FMAP_RD);
            const beat_t b = src[k];
            const int base = ((f / CGAP_POF) * L.toy + y) * obw;
        CGAP_LABEL(LR_LANES)
            for (int j = 0; j < CGAP_V; j++) {
                CGAP_PRAGMA(HLS UNROLL)
                const int x = (sp.b0 + q) * CGAP_V + j - t.x0;
                if (x >= 0 && x < t.tox) rbuf[f % CGAP_POF][x % CGAP_NB][base + x / CGAP_NB] = cgap_act_word(b, j);
            }
            if (++q == sp.row_span) {
                q = 0;
                if (++y == t.toy) {
                    y = 0;
                    f++;
                }
            }
        }
        CGAP_BURST_END(CGAP_PORT_FMAP_RD);
        if (whole_w || ++sy == t.toy) {
            sy = 0;
            sf++;
        }
    }
}

// Load stage of a conv tile step: weights and biases (when the tile loads them), input, residual (last
// input-channel tile only: it is added where the sums are requantised).
static void cgap_conv_load(const LayerDesc L, const CgapConvTile t, const beat_t *fmap_in, const beat_t *wmem,
                           cgap_ibuf_t ibuf, cgap_rbuf_t rbuf, cgap_wbuf_t wbuf, cgap_bbuf_t bbuf) {
    CGAP_PRAGMA(HLS INLINE off)
    if (!t.valid) return;
    if (t.wload) {
        cgap_load_weights(L, t, wmem, wbuf);
        cgap_load_biases(L, t, wmem, bbuf);
    }
    cgap_load_input(L, t, fmap_in, ibuf);
    if (L.has_res && t.last) cgap_load_residual(L, t, fmap_in, rbuf);
}

#if CGAP_HAS_PSUM
#define CGAP_PSUM_ARG , cgap_pbuf_t psum
#define CGAP_PSUM_PASS , psum
#else
#define CGAP_PSUM_ARG
#define CGAP_PSUM_PASS
#endif

// Compute stage: all Pof x Poy x Pox blocks of the tile in one flattened II=1 loop.  A block takes
// len = max(steps, Poy*Pox) iterations (steps = tif*kh*kw): the MAC array accumulates for the first `steps` of
// them while the previous block's held accumulators drain one (py, px) position per iteration through Pof lanes;
// one extra drain of Poy*Pox iterations empties the last block.  The first input-channel tile starts from the
// bias, later ones from zero; a drain adds the partial sums of the earlier channel tiles (psum) and either keeps
// the sum there (more channel tiles to come) or requantises it into obuf (the last).
static void cgap_conv_compute(const LayerDesc L, int li, const CgapConvTile t, const cgap_ibuf_t ibuf,
                              const cgap_rbuf_t rbuf, const cgap_wbuf_t wbuf, const cgap_bbuf_t bbuf,
                              cgap_obuf_t obuf CGAP_PSUM_ARG) {
    CGAP_PRAGMA(HLS INLINE off)
    if (!t.valid) return;
    const int steps = t.tif * L.kh * L.kw, drain = CGAP_POY * CGAP_POX, len = cgap_max(steps, drain);
    const int groups = cgap_cdiv(t.tof, CGAP_POF), yblocks = cgap_cdiv(t.toy, CGAP_POY);
    const int xblocks = cgap_cdiv(t.tox, CGAP_POX), blocks = groups * yblocks * xblocks;
    const int tiy = (t.toy - 1) * L.sh + L.kh, top = t.y0 * L.sh - L.pt;
    const int rlo = cgap_max(top, 0) - top, rhi = cgap_min(L.niy, top + tiy) - top;
    const int left = t.x0 * L.sw - L.pl, tix = (t.tox - 1) * L.sw + L.kw;
    const int clo = cgap_max(left, 0) - left, chi = cgap_min(L.nix, left + tix) - left;
    const int cbw = cgap_cdiv(L.tix, CGAP_IB_C), obw = cgap_cdiv(L.tox, CGAP_NB);
    acc_t acc[CGAP_POF][CGAP_POY][CGAP_POX], held[CGAP_POF][CGAP_POY][CGAP_POX];
    CGAP_PRAGMA(HLS ARRAY_PARTITION variable=acc complete dim=0)
    CGAP_PRAGMA(HLS ARRAY_PARTITION variable=held complete dim=0)
    int s = 0, i = 0, ky = 0, kx = 0;             // iteration within the block, MAC step (channel, kernel row/col)
    int g = 0, oy = 0, ox = 0, b = 0;             // block being accumulated: group, first row, first column, index
    int hg = 0, hy = 0, hx = 0, dy = 0, dx = 0;   // held block and its drain position
    bool draining = false;
    CGAP_COUNT_LOOP(CGAP_COMPUTE);
CGAP_LABEL(CONV_BLOCKS)
    for (int k = 0; k < blocks * len + drain; k++) {
        CGAP_PRAGMA(HLS loop_tripcount min=1 max=CGAP_MAX_CONV_ITERS)
        CGAP_PRAGMA(HLS PIPELINE II=1)
#if CGAP_HAS_PSUM
        CGAP_PRAGMA(HLS DEPENDENCE variable=psum type=inter false)
#endif
        CGAP_COUNT_CYCLE(CGAP_COMPUTE);
        if (b < blocks && s < steps) {
            CGAP_COUNT_ITER(li);
            const int row = i * tiy;
            act_t win[CGAP_POY][CGAP_POX];
            CGAP_PRAGMA(HLS ARRAY_PARTITION variable=win complete dim=0)
            cgap_window<CGAP_IB_R, CGAP_IB_C, CGAP_IBUF_DEPTH>(ibuf, row + oy * L.sh + ky, ox * L.sw + kx, L.sh, L.sw,
                                                              row + rlo, row + rhi, clo, chi, cbw, win);
        CGAP_LABEL(MAC_F)
            for (int pf = 0; pf < CGAP_POF; pf++) {
                CGAP_PRAGMA(HLS UNROLL)
                const wgt_t w = wbuf[pf][s * groups + g];
            CGAP_LABEL(MAC_Y)
                for (int py = 0; py < CGAP_POY; py++) {
                    CGAP_PRAGMA(HLS UNROLL)
                CGAP_LABEL(MAC_X)
                    for (int px = 0; px < CGAP_POX; px++) {
                        CGAP_PRAGMA(HLS UNROLL)
                        const acc_t start = t.first ? acc_t(bbuf[pf][g]) : acc_t(0);
                        const acc_t base = s == 0 ? start : acc[pf][py][px];
                        acc[pf][py][px] = base + w * win[py][px];
                    }
                }
            }
            if (++kx == L.kw) {
                kx = 0;
                if (++ky == L.kh) {
                    ky = 0;
                    i++;
                }
            }
        }
        if (draining && s < drain) {
            const int y = hy + dy, x = hx + dx;
        CGAP_LABEL(DRAIN_F)
            for (int pf = 0; pf < CGAP_POF; pf++) {
                CGAP_PRAGMA(HLS UNROLL)
                const int addr = (hg * L.toy + y) * obw + x / CGAP_NB;
                if (hg * CGAP_POF + pf < t.tof && y < t.toy && x < t.tox) {
                    acc_t a = held[pf][dy][dx];
#if CGAP_HAS_PSUM
                    if (!t.first) a += psum[pf][x % CGAP_NB][addr];
                    if (!t.last) psum[pf][x % CGAP_NB][addr] = a;
#endif
                    if (t.last) {
                        if (L.has_res) a += cgap_align(rbuf[pf][x % CGAP_NB][addr], L.res_shift);
                        obuf[pf][x % CGAP_NB][addr] = cgap_requant(a, L.out_shift, L.relu != 0, li);
                    }
                }
            }
            if (++dx == CGAP_POX) {
                dx = 0;
                dy++;
            }
        }
        if (++s == len) {  // block boundary: hand the accumulators to the drain, move to the next block
            s = 0;
            i = 0;
            draining = b < blocks;
        CGAP_LABEL(HOLD_F)
            for (int pf = 0; pf < CGAP_POF; pf++) {
                CGAP_PRAGMA(HLS UNROLL)
            CGAP_LABEL(HOLD_Y)
                for (int py = 0; py < CGAP_POY; py++) {
                    CGAP_PRAGMA(HLS UNROLL)
                CGAP_LABEL(HOLD_X)
                    for (int px = 0; px < CGAP_POX; px++) {
                        CGAP_PRAGMA(HLS UNROLL)
                        held[pf][py][px] = acc[pf][py][px];
                    }
                }
            }
            hg = g;
            hy = oy;
            hx = ox;
            dy = dx = 0;
            b++;
            ox += CGAP_POX;
            if (ox >= t.tox) {
                ox = 0;
                oy += CGAP_POY;
                if (oy >= t.toy) {
                    oy = 0;
                    g++;
                }
            }
        }
    }
}

// Store stage (last input-channel tile only): the tile's output rows and columns, whole planes, a channel's rows
// or a row's beats per burst (cgap_span; a column tile starts on a beat).  A beat is V output columns of one row;
// with a fused kernel == stride pool every beat takes pkh*pkw iterations over the window (V max / sum
// registers), otherwise one.
static void cgap_conv_store(const LayerDesc L, const CgapConvTile t, const cgap_obuf_t obuf, beat_t *fmap_out) {
    CGAP_PRAGMA(HLS INLINE off)
    if (!t.valid || !t.last) return;
    const int rpb = cgap_cdiv(L.oox, CGAP_V), obw = cgap_cdiv(L.tox, CGAP_NB), window = L.pkh * L.pkw;
    const int orows = t.toy / L.pkh, orow0 = t.y0 / L.pkh, ox0 = t.x0 / L.pkw;
    const bool whole_w = L.tox >= L.nox;
    const CgapSpan sp = cgap_span(t.tof, orows, t.toy == L.noy, whole_w, rpb, ox0, ox0 + t.tox / L.pkw);
    int sf = 0, sy = 0;  // channel (within the tile) and output row the next segment starts at
CGAP_LABEL(ST_SEG)
    for (int sg = 0; sg < sp.segments; sg++) {
        CGAP_PRAGMA(HLS loop_tripcount min=1 max=CGAP_MAX_OSEGS)
        beat_t *dst = fmap_out + L.out_off + ((t.f0 + sf) * L.ooy + orow0 + sy) * rpb + sp.b0;
        act_t beat_best[CGAP_V];
        acc_t beat_sum[CGAP_V];
        CGAP_PRAGMA(HLS ARRAY_PARTITION variable=beat_best complete dim=0)
        CGAP_PRAGMA(HLS ARRAY_PARTITION variable=beat_sum complete dim=0)
        int f = sf, yo = sy, q = 0, wy = 0, wx = 0, w = 0, out = 0;
        CGAP_BURST_BEGIN(CGAP_STORE, CGAP_PORT_FMAP_WR);
    CGAP_LABEL(ST_BURST)
        for (int k = 0; k < sp.beats * window; k++) {
            CGAP_PRAGMA(HLS loop_tripcount min=1 max=CGAP_MAX_SITERS)
            CGAP_PRAGMA(HLS PIPELINE II=1)
            const int y = yo * L.pkh + wy, base = ((f / CGAP_POF) * L.toy + y) * obw;
            beat_t b = 0;
        CGAP_LABEL(ST_LANES)
            for (int j = 0; j < CGAP_V; j++) {
                CGAP_PRAGMA(HLS UNROLL)
                const int xo = (sp.b0 + q) * CGAP_V + j, x = (xo - ox0) * L.pkw + wx;
                const bool ok = xo < L.oox && x < t.tox;
                const act_t v = ok ? obuf[f % CGAP_POF][x % CGAP_NB][base + x / CGAP_NB] : act_t(0);
                beat_best[j] = w == 0 || v > beat_best[j] ? v : beat_best[j];
                beat_sum[j] = (w == 0 ? acc_t(0) : beat_sum[j]) + v;
                const act_t avg = cgap_div_recip(beat_sum[j], window, L.div_m, L.div_s);
                cgap_put_act_word(b, j, !ok ? act_t(0) : L.pool == CGAP_POOL_AVG ? avg : beat_best[j]);
            }
            if (w == window - 1) {
                CGAP_COUNT_BEAT(CGAP_STORE, CGAP_PORT_FMAP_WR);
                dst[out++] = b;
            } else {
                CGAP_COUNT_WAIT(CGAP_STORE);
            }
            if (++w == window) {
                w = 0;
                if (++q == sp.row_span) {
                    q = 0;
                    if (++yo == orows) {
                        yo = 0;
                        f++;
                    }
                }
            }
            if (++wx == L.pkw) {
                wx = 0;
                if (++wy == L.pkh) wy = 0;
            }
        }
        CGAP_BURST_END(CGAP_PORT_FMAP_WR);
        if (whole_w || ++sy == orows) {
            sy = 0;
            sf++;
        }
    }
}

// One tile step: load tile ld, compute tile cp, store tile st; all arguments disjoint (see top).
static void cgap_conv_step(const LayerDesc L, int li, const CgapConvTile ld, const CgapConvTile cp,
                           const CgapConvTile st, const beat_t *fmap_in, beat_t *fmap_out, const beat_t *wmem,
                           cgap_ibuf_t ld_i, cgap_rbuf_t ld_r, cgap_wbuf_t ld_w, cgap_bbuf_t ld_b, const cgap_ibuf_t cp_i,
                           const cgap_rbuf_t cp_r, const cgap_wbuf_t cp_w, const cgap_bbuf_t cp_b, cgap_obuf_t cp_o,
                           const cgap_obuf_t st_o CGAP_PSUM_ARG) {
    CGAP_PRAGMA(HLS INLINE off)
    cgap_conv_load(L, ld, fmap_in, wmem, ld_i, ld_r, ld_w, ld_b);
    cgap_conv_compute(L, li, cp, cp_i, cp_r, cp_w, cp_b, cp_o CGAP_PSUM_PASS);
    cgap_conv_store(L, st, st_o, fmap_out);
}

// conv: tiles (f0, y0, x0 outer to inner, input channels innermost) through the load / compute / store
// ping-pong.  Input, residual and output tiles swap with the tile parity; the weight tile with the parity of the
// weight loads (CgapConvTile.wk); the partial sums have one copy (only the compute stage touches them).
static void cgap_conv_layer(const LayerDesc &L, int li, const beat_t *fmap_in, beat_t *fmap_out, const beat_t *wmem) {
    static cgap_ibuf_t ibuf0, ibuf1;
    static cgap_rbuf_t rbuf0, rbuf1;
    static cgap_obuf_t obuf0, obuf1;
    static cgap_wbuf_t wbuf0, wbuf1;
    static cgap_bbuf_t bbuf0, bbuf1;
    CGAP_PRAGMA(HLS ARRAY_PARTITION variable=ibuf0 complete dim=1)
    CGAP_PRAGMA(HLS ARRAY_PARTITION variable=ibuf0 complete dim=2)
    CGAP_PRAGMA(HLS ARRAY_PARTITION variable=ibuf1 complete dim=1)
    CGAP_PRAGMA(HLS ARRAY_PARTITION variable=ibuf1 complete dim=2)
    CGAP_PRAGMA(HLS ARRAY_PARTITION variable=rbuf0 complete dim=1)
    CGAP_PRAGMA(HLS ARRAY_PARTITION variable=rbuf0 complete dim=2)
    CGAP_PRAGMA(HLS ARRAY_PARTITION variable=rbuf1 complete dim=1)
    CGAP_PRAGMA(HLS ARRAY_PARTITION variable=rbuf1 complete dim=2)
    CGAP_PRAGMA(HLS ARRAY_PARTITION variable=obuf0 complete dim=1)
    CGAP_PRAGMA(HLS ARRAY_PARTITION variable=obuf0 complete dim=2)
    CGAP_PRAGMA(HLS ARRAY_PARTITION variable=obuf1 complete dim=1)
    CGAP_PRAGMA(HLS ARRAY_PARTITION variable=obuf1 complete dim=2)
    CGAP_PRAGMA(HLS ARRAY_PARTITION variable=wbuf0 complete dim=1)
    CGAP_PRAGMA(HLS ARRAY_PARTITION variable=wbuf1 complete dim=1)
    CGAP_PRAGMA(HLS ARRAY_PARTITION variable=bbuf0 complete dim=1)
    CGAP_PRAGMA(HLS ARRAY_PARTITION variable=bbuf1 complete dim=1)
#if CGAP_HAS_PSUM
    static cgap_pbuf_t psum;
    CGAP_PRAGMA(HLS ARRAY_PARTITION variable=psum complete dim=1)
    CGAP_PRAGMA(HLS ARRAY_PARTITION variable=psum complete dim=2)
#endif
    CGAP_PRAGMA(HLS ALLOCATION function instances=cgap_conv_step limit=1)
    const int ntiles = cgap_cdiv(L.nof, L.tof) * cgap_cdiv(L.noy, L.toy) * cgap_cdiv(L.nox, L.tox) * cgap_cdiv(L.nif, L.tif);
    CgapConvTile ld = cgap_conv_tile(L, -1, 0, 0, 0, 0), cp = cgap_conv_none(), st = cgap_conv_none();
CGAP_LABEL(C_STEPS)
    for (int s = 0; s < ntiles + 2; s++) {
        CGAP_PRAGMA(HLS loop_tripcount min=3 max=CGAP_MAX_TILE_STEPS)
        const bool odd = s & 1, wodd = cp.wk & 1;  // cp computes from the weight copy of its weight load
        if (!odd && !wodd)
            cgap_conv_step(L, li, ld, cp, st, fmap_in, fmap_out, wmem, ibuf0, rbuf0, wbuf1, bbuf1, ibuf1, rbuf1, wbuf0,
                           bbuf0, obuf1, obuf0 CGAP_PSUM_PASS);
        else if (!odd)
            cgap_conv_step(L, li, ld, cp, st, fmap_in, fmap_out, wmem, ibuf0, rbuf0, wbuf0, bbuf0, ibuf1, rbuf1, wbuf1,
                           bbuf1, obuf1, obuf0 CGAP_PSUM_PASS);
        else if (!wodd)
            cgap_conv_step(L, li, ld, cp, st, fmap_in, fmap_out, wmem, ibuf1, rbuf1, wbuf1, bbuf1, ibuf0, rbuf0, wbuf0,
                           bbuf0, obuf0, obuf1 CGAP_PSUM_PASS);
        else
            cgap_conv_step(L, li, ld, cp, st, fmap_in, fmap_out, wmem, ibuf1, rbuf1, wbuf0, bbuf0, ibuf0, rbuf0, wbuf1,
                           bbuf1, obuf0, obuf1 CGAP_PSUM_PASS);
        CGAP_COUNT_STEP(li);
        st = cp;
        cp = ld;
        ld = cgap_conv_next(L, ld);
    }
}

// ------------------------------------------------------------------------------- element-wise unit
// pool / gap / add (and a standalone ReLU, a 1x1 max pool) run on a unit as wide as the memory port, not as
// the MAC array: V lanes, one output word each per cycle.  Tiles are tof whole channel planes.  The input
// planes sit in CGAP_FB column banks (word (c, y, x) in bank (x + left) % FB at (c*niy + y)*fbw + (x+left)/FB,
// left = a pool's left padding; FB >= V and coprime with every standalone pool's stride, so V columns at any
// stride are V distinct banks); the output planes are whole beats.  Only the kinds the network has are
// compiled in (CGAP_HAS_POOL, CGAP_HAS_GAP, CGAP_HAS_ADD).

#if CGAP_HAS_FLAT
typedef act_t cgap_fbuf_t[CGAP_FB][CGAP_FBUF_DEPTH];
typedef act_t cgap_fbbuf_t[CGAP_FB][CGAP_FBUF_B_DEPTH];
typedef beat_t cgap_fobuf_t[CGAP_FOBUF_BEATS];

struct CgapFlatTile {
    int valid, f0, tof;
};

// One burst of tof whole input planes (h rows of w words, rows padded to beats) into the column banks,
// columns shifted right by left.
template <int D>
static void cgap_flat_load_planes(const beat_t *src, int tof, int h, int w, int left, act_t buf[CGAP_FB][D]) {
    const int rpb = cgap_cdiv(w, CGAP_V), fbw = cgap_cdiv(w + left, CGAP_FB);
    int row = 0, q = 0;  // plane row (c*h + y), beat within the row
    CGAP_BURST_BEGIN(CGAP_LOAD, CGAP_PORT_FMAP_RD);
CGAP_LABEL(LF_BURST)
    for (int k = 0; k < tof * h * rpb; k++) {
        CGAP_PRAGMA(HLS loop_tripcount min=1 max=CGAP_MAX_FBEATS)
        CGAP_PRAGMA(HLS PIPELINE II=1)
        CGAP_COUNT_BEAT(CGAP_LOAD, CGAP_PORT_FMAP_RD);
        const beat_t b = src[k];
    CGAP_LABEL(LF_LANES)
        for (int j = 0; j < CGAP_V; j++) {
            CGAP_PRAGMA(HLS UNROLL)
            const int x = q * CGAP_V + j, col = x + left;
            if (x < w) buf[col % CGAP_FB][row * fbw + col / CGAP_FB] = cgap_act_word(b, j);
        }
        if (++q == rpb) {
            q = 0;
            row++;
        }
    }
    CGAP_BURST_END(CGAP_PORT_FMAP_RD);
}

static void cgap_flat_load(const LayerDesc L, const CgapFlatTile t, const beat_t *fmap_in, cgap_fbuf_t a, cgap_fbbuf_t b) {
    CGAP_PRAGMA(HLS INLINE off)
    if (!t.valid) return;
    const int plane = L.niy * cgap_cdiv(L.nix, CGAP_V);
    const int left = L.kind == CGAP_KIND_POOL ? L.pl : 0;
    cgap_flat_load_planes<CGAP_FBUF_DEPTH>(fmap_in + L.in_off + t.f0 * plane, t.tof, L.niy, L.nix, left, a);
#if CGAP_HAS_ADD
    if (L.kind == CGAP_KIND_ADD)
        cgap_flat_load_planes<CGAP_FBUF_B_DEPTH>(fmap_in + L.res_off + t.f0 * plane, t.tof, L.niy, L.nix, 0, b);
#else
    (void)b;
#endif
}

#if CGAP_HAS_POOL
// pool: per output beat (V columns of one output row), the kh*kw window positions in consecutive iterations;
// V max / sum / count registers; padding never wins a max and counts only with count_include_pad.
static void cgap_pool_tile(const LayerDesc &L, int li, const CgapFlatTile &t, const cgap_fbuf_t a, cgap_fobuf_t o) {
    const int rpb = cgap_cdiv(L.oox, CGAP_V), fbw = cgap_cdiv(L.nix + L.pl, CGAP_FB), window = L.kh * L.kw;
    act_t best[CGAP_V];
    acc_t sum[CGAP_V];
    int count[CGAP_V];
    CGAP_PRAGMA(HLS ARRAY_PARTITION variable=best complete dim=0)
    CGAP_PRAGMA(HLS ARRAY_PARTITION variable=sum complete dim=0)
    CGAP_PRAGMA(HLS ARRAY_PARTITION variable=count complete dim=0)
    int c = 0, yo = 0, q = 0, ky = 0, kx = 0, w = 0, out = 0;
    CGAP_COUNT_LOOP(CGAP_COMPUTE);
CGAP_LABEL(P_ITER)
    for (int k = 0; k < t.tof * L.ooy * rpb * window; k++) {
        CGAP_PRAGMA(HLS loop_tripcount min=1 max=CGAP_MAX_EITERS)
        CGAP_PRAGMA(HLS PIPELINE II=1)
        CGAP_COUNT_ITER(li);
        CGAP_COUNT_CYCLE(CGAP_COMPUTE);
        const int y = yo * L.sh + ky - L.pt;
        const bool row_ok = y >= 0 && y < L.niy;
        const int base = (c * L.niy + (row_ok ? y : 0)) * fbw;
        beat_t b = 0;
    CGAP_LABEL(P_LANES)
        for (int j = 0; j < CGAP_V; j++) {
            CGAP_PRAGMA(HLS UNROLL)
            const int xo = q * CGAP_V + j, col = xo * L.sw + kx;
            const bool ok = row_ok && xo < L.oox && col >= L.pl && col < L.pl + L.nix;
            const act_t v = ok ? a[col % CGAP_FB][base + col / CGAP_FB] : act_t(CGAP_ACT_MIN);
            best[j] = w == 0 || (ok && v > best[j]) ? v : best[j];
            sum[j] = (w == 0 ? acc_t(0) : sum[j]) + (ok ? v : act_t(0));
            count[j] = (w == 0 ? 0 : count[j]) + (ok ? 1 : 0);
            const int n = L.count_pad ? window : count[j];
            act_t r = L.pool == CGAP_POOL_MAX ? best[j] : cgap_div_recip(sum[j], n, CGAP_RECIP_M[n], CGAP_RECIP_S[n]);
            if (L.relu && r < 0) r = 0;
            cgap_put_act_word(b, j, xo < L.oox ? r : act_t(0));
        }
        if (w == window - 1) o[out++] = b;
        if (++w == window) {
            w = 0;
            if (++q == rpb) {
                q = 0;
                if (++yo == L.ooy) {
                    yo = 0;
                    c++;
                }
            }
        }
        if (++kx == L.kw) {
            kx = 0;
            if (++ky == L.kh) ky = 0;
        }
    }
}
#endif

#if CGAP_HAS_GAP
// gap: every beat of a channel plane adds its V words (an adder tree) into one sum; the channel's last beat
// divides it by H*W (reciprocal multiply) into the channel's output beat.
static void cgap_gap_tile(const LayerDesc &L, int li, const CgapFlatTile &t, const cgap_fbuf_t a, cgap_fobuf_t o) {
    const int rpb = cgap_cdiv(L.nix, CGAP_V), fbw = cgap_cdiv(L.nix, CGAP_FB), per_channel = L.niy * rpb;
    acc_t total = 0;
    int row = 0, q = 0, n = 0, c = 0;
    CGAP_COUNT_LOOP(CGAP_COMPUTE);
CGAP_LABEL(G_ITER)
    for (int k = 0; k < t.tof * per_channel; k++) {
        CGAP_PRAGMA(HLS loop_tripcount min=1 max=CGAP_MAX_EITERS)
        CGAP_PRAGMA(HLS PIPELINE II=1)
        CGAP_COUNT_ITER(li);
        CGAP_COUNT_CYCLE(CGAP_COMPUTE);
        acc_t part = 0;
    CGAP_LABEL(G_LANES)
        for (int j = 0; j < CGAP_V; j++) {
            CGAP_PRAGMA(HLS UNROLL)
            const int x = q * CGAP_V + j;
            if (x < L.nix) part += a[x % CGAP_FB][row * fbw + x / CGAP_FB];
        }
        total = (n == 0 ? acc_t(0) : total) + part;
        if (n == per_channel - 1) {
            beat_t b = 0;
            cgap_put_act_word(b, 0, cgap_div_recip(total, L.niy * L.nix, L.div_m, L.div_s));
            o[c++] = b;
        }
        if (++n == per_channel) n = 0;
        if (++q == rpb) {
            q = 0;
            row++;
        }
    }
}
#endif

#if CGAP_HAS_ADD
// add: one beat of each operand a cycle: align both to the accumulator's binary point, add, requantise, ReLU.
static void cgap_add_tile(const LayerDesc &L, int li, const CgapFlatTile &t, const cgap_fbuf_t a,
                          const cgap_fbbuf_t b, cgap_fobuf_t o) {
    const int rpb = cgap_cdiv(L.nox, CGAP_V), fbw = cgap_cdiv(L.nox, CGAP_FB);
    int row = 0, q = 0;
    CGAP_COUNT_LOOP(CGAP_COMPUTE);
CGAP_LABEL(A_ITER)
    for (int k = 0; k < t.tof * L.noy * rpb; k++) {
        CGAP_PRAGMA(HLS loop_tripcount min=1 max=CGAP_MAX_EITERS)
        CGAP_PRAGMA(HLS PIPELINE II=1)
        CGAP_COUNT_ITER(li);
        CGAP_COUNT_CYCLE(CGAP_COMPUTE);
        beat_t out = 0;
    CGAP_LABEL(A_LANES)
        for (int j = 0; j < CGAP_V; j++) {
            CGAP_PRAGMA(HLS UNROLL)
            const int x = q * CGAP_V + j, addr = row * fbw + x / CGAP_FB;
            if (x < L.nox) {
                const acc_t s = cgap_align(a[x % CGAP_FB][addr], L.in_shift) + cgap_align(b[x % CGAP_FB][addr], L.res_shift);
                cgap_put_act_word(out, j, cgap_requant(s, L.out_shift, L.relu != 0, li));
            }
        }
        o[k] = out;
        if (++q == rpb) {
            q = 0;
            row++;
        }
    }
}
#endif

static void cgap_flat_compute(const LayerDesc L, int li, const CgapFlatTile t, const cgap_fbuf_t a,
                              const cgap_fbbuf_t b, cgap_fobuf_t o) {
    CGAP_PRAGMA(HLS INLINE off)
    if (!t.valid) return;
#if CGAP_HAS_POOL
    if (L.kind == CGAP_KIND_POOL) cgap_pool_tile(L, li, t, a, o);
#endif
#if CGAP_HAS_GAP
    if (L.kind == CGAP_KIND_GAP) cgap_gap_tile(L, li, t, a, o);
#endif
#if CGAP_HAS_ADD
    if (L.kind == CGAP_KIND_ADD) cgap_add_tile(L, li, t, a, b, o);
#endif
    (void)a;
    (void)b;
    (void)o;
    (void)li;
}

// Store stage: the tile's tof output planes are contiguous in DRAM: one burst of the output beats.
static void cgap_flat_store(const LayerDesc L, const CgapFlatTile t, const cgap_fobuf_t o, beat_t *fmap_out) {
    CGAP_PRAGMA(HLS INLINE off)
    if (!t.valid) return;
    const int beats = t.tof * L.ooy * cgap_cdiv(L.oox, CGAP_V);
    beat_t *dst = fmap_out + L.out_off + t.f0 * L.ooy * cgap_cdiv(L.oox, CGAP_V);
    CGAP_BURST_BEGIN(CGAP_STORE, CGAP_PORT_FMAP_WR);
CGAP_LABEL(SF_BURST)
    for (int k = 0; k < beats; k++) {
        CGAP_PRAGMA(HLS loop_tripcount min=1 max=CGAP_MAX_FOBEATS)
        CGAP_PRAGMA(HLS PIPELINE II=1)
        CGAP_COUNT_BEAT(CGAP_STORE, CGAP_PORT_FMAP_WR);
        dst[k] = o[k];
    }
    CGAP_BURST_END(CGAP_PORT_FMAP_WR);
}

static void cgap_flat_step(const LayerDesc L, int li, const CgapFlatTile ld, const CgapFlatTile cp,
                           const CgapFlatTile st, const beat_t *fmap_in, beat_t *fmap_out, cgap_fbuf_t ld_a,
                           cgap_fbbuf_t ld_b, const cgap_fbuf_t cp_a, const cgap_fbbuf_t cp_b, cgap_fobuf_t cp_o,
                           const cgap_fobuf_t st_o) {
    CGAP_PRAGMA(HLS INLINE off)
    cgap_flat_load(L, ld, fmap_in, ld_a, ld_b);
    cgap_flat_compute(L, li, cp, cp_a, cp_b, cp_o);
    cgap_flat_store(L, st, st_o, fmap_out);
}

static CgapFlatTile cgap_flat_tile(const LayerDesc &L, int f0) {
    CgapFlatTile t;
    t.valid = f0 < L.nof;
    t.f0 = f0;
    t.tof = t.valid ? cgap_min(L.tof, L.nof - f0) : 0;
    return t;
}

// pool / gap / add: channel tiles through the same load / compute / store ping-pong as conv.
static void cgap_flat_layer(const LayerDesc &L, int li, const beat_t *fmap_in, beat_t *fmap_out) {
    static cgap_fbuf_t fa0, fa1;
    static cgap_fbbuf_t fb0, fb1;
    static cgap_fobuf_t fo0, fo1;
    CGAP_PRAGMA(HLS ARRAY_PARTITION variable=fa0 complete dim=1)
    CGAP_PRAGMA(HLS ARRAY_PARTITION variable=fa1 complete dim=1)
    CGAP_PRAGMA(HLS ARRAY_PARTITION variable=fb0 complete dim=1)
    CGAP_PRAGMA(HLS ARRAY_PARTITION variable=fb1 complete dim=1)
    CGAP_PRAGMA(HLS ALLOCATION function instances=cgap_flat_step limit=1)
    const int ntiles = cgap_cdiv(L.nof, L.tof);
    CgapFlatTile ld = cgap_flat_tile(L, 0), cp = cgap_flat_tile(L, L.nof), st = cp;
CGAP_LABEL(F_STEPS)
    for (int s = 0; s < ntiles + 2; s++) {
        CGAP_PRAGMA(HLS loop_tripcount min=3 max=CGAP_MAX_FTILE_STEPS)
        if (s & 1) cgap_flat_step(L, li, ld, cp, st, fmap_in, fmap_out, fa1, fb1, fa0, fb0, fo0, fo1);
        else cgap_flat_step(L, li, ld, cp, st, fmap_in, fmap_out, fa0, fb0, fa1, fb1, fo1, fo0);
        CGAP_COUNT_STEP(li);
        st = cp;
        cp = ld;
        ld = cgap_flat_tile(L, ld.valid ? ld.f0 + L.tof : L.nof);
    }
}

#endif  // CGAP_HAS_FLAT

// Dispatch one row of the layer table.  fmap_in and fmap_out are the same DRAM region behind two
// m_axi ports (reads, writes); a layer never writes a tensor it reads.
static void cgap_run_layer(const LayerDesc &L, int li, const beat_t *fmap_in, beat_t *fmap_out, const beat_t *wmem) {
#if CGAP_HAS_FLAT
    if (L.kind != CGAP_KIND_CONV) {
        cgap_flat_layer(L, li, fmap_in, fmap_out);
        return;
    }
#endif
    cgap_conv_layer(L, li, fmap_in, fmap_out, wmem);
}

#endif  // CGAP_ENGINE_H
