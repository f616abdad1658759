// cgap engine kernels: one reusable engine driven by the generated layer table (cgap_layers.h).
// Static, hand-written; copied verbatim into generated/<name>/firmware/.  The loop nest of every
// kind is exactly the one documented in fpga_model/schedule.py; CGAP_COUNT_ITER marks the II=1
// pipeline body whose trip count fpga_model.schedule.compute_iterations predicts.
//
// Architecture (DESIGN.md section 3, the model fpga_model/engine_sim.py costs):
// * Ping-pong, manual form.  Every layer walks its tiles in tile steps s = 0 .. T+1; step s loads
//   tile s, computes tile s-1 and stores tile s-2.  Each tile buffer exists twice (ping, pong:
//   separate arrays) and the step function is called from branches on the tile parity with the
//   two copies swapped, so inside one step the load, compute and store functions touch disjoint
//   arrays and separate AXI ports (fmap_in: reads, fmap_out: writes, wmem: weights) and are called
//   unconditionally in one basic block: HLS schedules the three calls concurrently (a tile step
//   takes max(load, compute, store)), while g++ runs them one after another with the same result.
//   ALLOCATION limit=1 keeps one instance of each step (one MAC array) behind the branches.
//   Why not DATAFLOW: a dataflow region needs single-producer/single-consumer channels and a
//   canonical body without the per-layer dispatch, variable tile counts and the weight buffer
//   that lives across several tiles (one load per output-channel tile); the manual form keeps
//   all of that in plain C++.
// * Bursts: every DRAM transfer is a II=1 copy loop over contiguous addresses with a
//   LOOP_TRIPCOUNT bound: one loop per input channel (its rows of the tile; zero padding is made
//   on chip, never read), one for the weights and one for the biases of an output-channel tile,
//   one per residual channel, one per output row (conv) or per channel tile (pool/gap/add).
// * Banked buffers: conv input tiles are split into IB_R x IB_C banks (rows mod IB_R, columns
//   mod IB_C, IB_R = Poy*max stride, IB_C = Pox*max stride), so the Poy x Pox pixels the array
//   needs each cycle lie in distinct banks: every bank is read once per cycle and a crossbar
//   routes the words to the lanes (cgap_window).  Weights and biases are split into Pof banks
//   (one per output-channel lane); pool/gap/add tiles into Pof x FB_R x FB_C banks.  Conv output
//   and residual tiles are read/written one word per cycle (block write-out, store) and need no
//   partitioning.
#ifndef CGAP_ENGINE_H
#define CGAP_ENGINE_H

#include "cgap_fixed.h"
#include "cgap_layers.h"

static inline int cgap_min(int a, int b) { return a < b ? a : b; }
static inline int cgap_cdiv(int a, int b) { return (a + b - 1) / b; }

// ------------------------------------------------------------------------------------- banked windows

// Read the Poy x Pox window at rows r0 + py*sh, columns c0 + px*sw of a buffer banked BR x BC
// (element (r, c) in bank (r % BR, c % BC) at word (r / BR) * cbw + c / BC).  Needs Poy*sh <= BR and
// Pox*sw <= BC.  Every bank is read once (its row and column in [r0, r0+BR) x [c0, c0+BC)), then
// each lane picks its bank: a BR x BC crossbar.  Out-of-range words (r >= nrows, c >= ncols) read 0.
template <int BR, int BC, int D>
static void cgap_window(const act_t buf[BR][BC][D], int r0, int c0, int sh, int sw, int nrows, int ncols,
                        int cbw, act_t win[CGAP_POY][CGAP_POX]) {
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
            bank[rb][cb] = r < nrows && c < ncols ? buf[rb][cb][gr * cbw + gc] : act_t(0);
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

// Write the lanes of a stride-1 Poy x Pox window at (r0, c0) where mask is set (inverse crossbar:
// each bank takes the one lane that maps to it).
template <int BR, int BC, int D>
static void cgap_window_write(act_t buf[BR][BC][D], int r0, int c0, int cbw, const act_t val[CGAP_POY][CGAP_POX],
                              const bool mask[CGAP_POY][CGAP_POX]) {
    const int rq = r0 / BR, rm = r0 % BR, cq = c0 / BC, cm = c0 % BC;
CGAP_LABEL(WW_R)
    for (int rb = 0; rb < BR; rb++) {
        CGAP_PRAGMA(HLS UNROLL)
        const int gr = rq + (rb < rm ? 1 : 0), py = gr * BR + rb - r0;
    CGAP_LABEL(WW_C)
        for (int cb = 0; cb < BC; cb++) {
            CGAP_PRAGMA(HLS UNROLL)
            const int gc = cq + (cb < cm ? 1 : 0), px = gc * BC + cb - c0;
            if (py < CGAP_POY && px < CGAP_POX && mask[py][px]) buf[rb][cb][gr * cbw + gc] = val[py][px];
        }
    }
}

// ------------------------------------------------------------------------------------- conv tiles

// One conv tile: output channels [f0, f0+tof) (output-channel tile kf), output rows [y0, y0+toy).
struct CgapConvTile {
    int valid, kf, f0, tof, y0, toy, wload;
};

static CgapConvTile cgap_conv_tile(const LayerDesc &L, int kf, int f0, int y0) {
    CgapConvTile t;
    t.valid = f0 < L.nof;
    t.kf = kf;
    t.f0 = f0;
    t.y0 = y0;
    t.tof = cgap_min(L.tof, L.nof - f0);
    t.toy = cgap_min(L.toy, L.noy - y0);
    t.wload = y0 == 0;
    return t;
}

static CgapConvTile cgap_conv_next(const LayerDesc &L, const CgapConvTile &t) {
    if (!t.valid) return t;
    if (t.y0 + L.toy < L.noy) return cgap_conv_tile(L, t.kf, t.f0, t.y0 + L.toy);
    return cgap_conv_tile(L, t.kf + 1, t.f0 + L.tof, 0);
}

static CgapConvTile cgap_conv_none() {
    CgapConvTile t;
    t.valid = 0;
    t.kf = -1;
    t.f0 = t.tof = t.y0 = t.toy = t.wload = 0;
    return t;
}

// Weights [f][step] of channels [f0, f0+tof) (one burst) into wbuf[f % Pof][step * fb + f / Pof],
// fb = ceil(tof / Pof); then their biases (CGAP_BIAS_WORDS words each, low word first, one burst).
static void cgap_load_weights(const LayerDesc &L, int li, const CgapConvTile &t, const wgt_t *wmem,
                              wgt_t wbuf[CGAP_POF][CGAP_WBUF_DEPTH], acc_t bbuf[CGAP_POF][CGAP_BBUF_DEPTH]) {
    const int steps = L.nif * L.kh * L.kw, fb = cgap_cdiv(t.tof, CGAP_POF);
    const wgt_t *src = wmem + L.w_off + t.f0 * steps;
    int f = 0, s = 0;
CGAP_LABEL(LW_BURST)
    for (int k = 0; k < t.tof * steps; k++) {
        CGAP_PRAGMA(HLS loop_tripcount min=1 max=CGAP_MAX_WBURST)
        CGAP_PRAGMA(HLS PIPELINE II=1)
        CGAP_COUNT_RD_W(li);
        wbuf[f % CGAP_POF][s * fb + f / CGAP_POF] = src[k];
        if (++s == steps) {
            s = 0;
            f++;
        }
    }
    const wgt_t *bsrc = wmem + L.b_off + t.f0 * CGAP_BIAS_WORDS;
    wgt_t words[CGAP_BIAS_WORDS];
    CGAP_PRAGMA(HLS ARRAY_PARTITION variable=words complete dim=0)
    int w = 0;
    f = 0;
CGAP_LABEL(LB_BURST)
    for (int k = 0; k < t.tof * CGAP_BIAS_WORDS; k++) {
        CGAP_PRAGMA(HLS loop_tripcount min=1 max=CGAP_MAX_BBURST)
        CGAP_PRAGMA(HLS PIPELINE II=1)
        CGAP_COUNT_RD_W(li);
        words[w] = bsrc[k];
        if (++w == CGAP_BIAS_WORDS) {
            acc_t b = 0;
        CGAP_LABEL(LB_ASM)
            for (int j = CGAP_BIAS_WORDS - 1; j >= 0; j--) {
                CGAP_PRAGMA(HLS UNROLL)
                b = (b << CGAP_WEIGHT_BITS) | acc_t(wbits_t(words[j]));
            }
            bbuf[f % CGAP_POF][f / CGAP_POF] = b;
            w = 0;
            f++;
        }
    }
}

// Input rows of the tile, tile row r = input row y0*S - pt + r (tiy rows, all Nif channels, zero
// padded to pw columns), into the IB_R x IB_C banks at linear row R = i*tiy + r.  Padding words
// are written on chip; each channel's rows inside the image are one burst.
static void cgap_load_input(const LayerDesc &L, int li, const CgapConvTile &t, const act_t *fmap_in,
                            act_t ibuf[CGAP_IB_R][CGAP_IB_C][CGAP_IBUF_DEPTH]) {
    const int pw = L.nix + L.pl + L.pr, cbw = cgap_cdiv(pw, CGAP_IB_C);
    const int tiy = (t.toy - 1) * L.sh + L.kh, top = t.y0 * L.sh - L.pt;
    const int lo = top < 0 ? 0 : top, hi = cgap_min(L.niy, top + tiy);
    const int rlo = lo - top, rhi = hi - top;  // tile rows [rlo, rhi) come from DRAM
CGAP_LABEL(LI_C)
    for (int i = 0; i < L.nif; i++) {
        CGAP_PRAGMA(HLS loop_tripcount min=1 max=CGAP_MAX_CH)
        // Padding, made on chip: whole rows outside the image, the pl + pr edge words of image rows.
        const int edge = L.pl + L.pr, npad = (tiy - (rhi - rlo)) * pw + (rhi - rlo) * edge;
        int r = rlo == 0 && edge == 0 ? rhi : 0, c = 0;  // rows without padding words are skipped
    CGAP_LABEL(LI_PAD)
        for (int k = 0; k < npad; k++) {
            CGAP_PRAGMA(HLS loop_tripcount min=1 max=CGAP_MAX_IPAD)
            CGAP_PRAGMA(HLS PIPELINE II=1)
            const bool image_row = r >= rlo && r < rhi;
            const int R = i * tiy + r, col = image_row && c >= L.pl ? c + L.nix : c;
            ibuf[R % CGAP_IB_R][col % CGAP_IB_C][(R / CGAP_IB_R) * cbw + col / CGAP_IB_C] = 0;
            if (++c == (image_row ? edge : pw)) {
                c = 0;
                if (++r == rlo && edge == 0) r = rhi;
            }
        }
        const act_t *src = fmap_in + L.in_off + (i * L.niy + lo) * L.nix;
        r = rlo;
        c = L.pl;
CGAP_LABEL(LI_BURST)
        for (int k = 0; k < (hi - lo) * L.nix; k++) {
            CGAP_PRAGMA(HLS loop_tripcount min=1 max=CGAP_MAX_ISEG)
            CGAP_PRAGMA(HLS PIPELINE II=1)
            CGAP_COUNT_RD_A(li);
            const int R = i * tiy + r;
            ibuf[R % CGAP_IB_R][c % CGAP_IB_C][(R / CGAP_IB_R) * cbw + c / CGAP_IB_C] = src[k];
            if (++c == L.pl + L.nix) {
                c = L.pl;
                r++;
            }
        }
    }
}

// Residual tile [f][y][x] (toy rows of tof channels, one burst per channel) into rbuf.
static void cgap_load_residual(const LayerDesc &L, int li, const CgapConvTile &t, const act_t *fmap_in,
                               act_t rbuf[CGAP_RBUF_WORDS]) {
CGAP_LABEL(LR_F)
    for (int f = 0; f < t.tof; f++) {
        CGAP_PRAGMA(HLS loop_tripcount min=1 max=CGAP_MAX_TOF)
        const act_t *src = fmap_in + L.res_off + ((t.f0 + f) * L.noy + t.y0) * L.nox;
    CGAP_LABEL(LR_BURST)
        for (int k = 0; k < t.toy * L.nox; k++) {
            CGAP_PRAGMA(HLS loop_tripcount min=1 max=CGAP_MAX_OSEG)
            CGAP_PRAGMA(HLS PIPELINE II=1)
            CGAP_COUNT_RD_A(li);
            rbuf[f * t.toy * L.nox + k] = src[k];
        }
    }
}

// Load stage of a conv tile step: weights (first row tile of an output-channel tile), input, residual.
static void cgap_conv_load(const LayerDesc &L, int li, const CgapConvTile &t, const act_t *fmap_in,
                           const wgt_t *wmem, act_t ibuf[CGAP_IB_R][CGAP_IB_C][CGAP_IBUF_DEPTH],
                           act_t rbuf[CGAP_RBUF_WORDS], wgt_t wbuf[CGAP_POF][CGAP_WBUF_DEPTH],
                           acc_t bbuf[CGAP_POF][CGAP_BBUF_DEPTH]) {
    if (!t.valid) return;
    if (t.wload) cgap_load_weights(L, li, t, wmem, wbuf, bbuf);
    cgap_load_input(L, li, t, fmap_in, ibuf);
    if (L.has_res) cgap_load_residual(L, li, t, fmap_in, rbuf);
}

// One Pof x Poy x Pox block of outputs: bias, the II=1 MAC pipeline over (i, ky, kx),
// then residual add, requantisation and ReLU into obuf[f][y][x] (tile coordinates), one per cycle.
static void cgap_conv_block(const LayerDesc &L, int li, const CgapConvTile &t, int of, int oy, int ox,
                            const act_t ibuf[CGAP_IB_R][CGAP_IB_C][CGAP_IBUF_DEPTH],
                            const act_t rbuf[CGAP_RBUF_WORDS], const wgt_t wbuf[CGAP_POF][CGAP_WBUF_DEPTH],
                            const acc_t bbuf[CGAP_POF][CGAP_BBUF_DEPTH], act_t obuf[CGAP_OBUF_WORDS]) {
    acc_t acc[CGAP_POF][CGAP_POY][CGAP_POX];
    CGAP_PRAGMA(HLS ARRAY_PARTITION variable=acc complete dim=0)
    const int fq = of / CGAP_POF, fb = cgap_cdiv(t.tof, CGAP_POF);
CGAP_LABEL(INIT)
    for (int pf = 0; pf < CGAP_POF; pf++)
        for (int py = 0; py < CGAP_POY; py++)
            for (int px = 0; px < CGAP_POX; px++) {
                CGAP_PRAGMA(HLS UNROLL)
                acc[pf][py][px] = of + pf < t.tof ? bbuf[pf][fq] : acc_t(0);
            }
    const int steps = L.nif * L.kh * L.kw;
    const int tiy = (t.toy - 1) * L.sh + L.kh, pw = L.nix + L.pl + L.pr, cbw = cgap_cdiv(pw, CGAP_IB_C);
    int i = 0, ky = 0, kx = 0;
CGAP_LABEL(MAC)
    for (int s = 0; s < steps; s++) {
        CGAP_PRAGMA(HLS loop_tripcount min=1 max=CGAP_MAX_STEPS)
        CGAP_PRAGMA(HLS PIPELINE II=1)
        CGAP_COUNT_ITER(li);
        act_t win[CGAP_POY][CGAP_POX];
        cgap_window<CGAP_IB_R, CGAP_IB_C, CGAP_IBUF_DEPTH>(ibuf, i * tiy + oy * L.sh + ky, ox * L.sw + kx, L.sh, L.sw,
                                                          L.nif * tiy, pw, cbw, win);
    CGAP_LABEL(MAC_F)
        for (int pf = 0; pf < CGAP_POF; pf++) {
            const wgt_t w = wbuf[pf][s * fb + fq];
        CGAP_LABEL(MAC_Y)
            for (int py = 0; py < CGAP_POY; py++)
            CGAP_LABEL(MAC_X)
                for (int px = 0; px < CGAP_POX; px++) {
                    CGAP_PRAGMA(HLS UNROLL)
                    if (of + pf < t.tof && oy + py < t.toy && ox + px < L.nox) acc[pf][py][px] += w * win[py][px];
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
CGAP_LABEL(BLOCK_OUT)
    for (int pf = 0; pf < CGAP_POF; pf++)
        for (int py = 0; py < CGAP_POY; py++)
            for (int px = 0; px < CGAP_POX; px++) {
                CGAP_PRAGMA(HLS PIPELINE II=1)
                const int f = of + pf, y = oy + py, x = ox + px;
                if (f < t.tof && y < t.toy && x < L.nox) {
                    const int o = (f * t.toy + y) * L.nox + x;
                    acc_t a = acc[pf][py][px];
                    if (L.has_res) a += cgap_align(rbuf[o], L.res_shift);
                    obuf[o] = cgap_requant(a, L.out_shift, L.relu != 0, li);
                }
            }
}

// Compute stage of a conv tile step: the (of, oy, ox) blocks of the tile.
static void cgap_conv_compute(const LayerDesc &L, int li, const CgapConvTile &t,
                              const act_t ibuf[CGAP_IB_R][CGAP_IB_C][CGAP_IBUF_DEPTH], const act_t rbuf[CGAP_RBUF_WORDS],
                              const wgt_t wbuf[CGAP_POF][CGAP_WBUF_DEPTH], const acc_t bbuf[CGAP_POF][CGAP_BBUF_DEPTH],
                              act_t obuf[CGAP_OBUF_WORDS]) {
    if (!t.valid) return;
CGAP_LABEL(B_F)
    for (int of = 0; of < t.tof; of += CGAP_POF) {
        CGAP_PRAGMA(HLS loop_tripcount min=1 max=CGAP_MAX_FBLOCKS)
    CGAP_LABEL(B_Y)
        for (int oy = 0; oy < t.toy; oy += CGAP_POY) {
            CGAP_PRAGMA(HLS loop_tripcount min=1 max=CGAP_MAX_YBLOCKS)
        CGAP_LABEL(B_X)
            for (int ox = 0; ox < L.nox; ox += CGAP_POX) {
                CGAP_PRAGMA(HLS loop_tripcount min=1 max=CGAP_MAX_XBLOCKS)
                cgap_conv_block(L, li, t, of, oy, ox, ibuf, rbuf, wbuf, bbuf, obuf);
            }
        }
    }
}

// Store stage: per output row, the fused kernel == stride pool (1x1 when none) over the window
// rows into a row buffer, then one burst of the row to DRAM.
static void cgap_conv_store(const LayerDesc &L, int li, const CgapConvTile &t, const act_t obuf[CGAP_OBUF_WORDS],
                            act_t *fmap_out) {
    if (!t.valid) return;
    const int rows = t.toy / L.pkh, cols = L.nox / L.pkw, win = L.pkh * L.pkw;
    act_t best[CGAP_MAX_OCOLS];
    acc_t sum[CGAP_MAX_OCOLS];
CGAP_LABEL(ST_F)
    for (int f = 0; f < t.tof; f++) {
        CGAP_PRAGMA(HLS loop_tripcount min=1 max=CGAP_MAX_TOF)
    CGAP_LABEL(ST_Y)
        for (int r = 0; r < rows; r++) {
            CGAP_PRAGMA(HLS loop_tripcount min=1 max=CGAP_MAX_OROWS)
            int ky = 0, kx = 0, c = 0;
        CGAP_LABEL(ST_POOL)
            for (int n = 0; n < win * cols; n++) {  // window position (ky, kx) outer, output column c inner
                CGAP_PRAGMA(HLS loop_tripcount min=1 max=CGAP_MAX_OROW)
                CGAP_PRAGMA(HLS PIPELINE II=1)
                const act_t v = obuf[(f * t.toy + r * L.pkh + ky) * L.nox + c * L.pkw + kx];
                if (ky == 0 && kx == 0) {
                    best[c] = v;
                    sum[c] = v;
                } else {
                    if (v > best[c]) best[c] = v;
                    sum[c] += v;
                }
                if (++c == cols) {
                    c = 0;
                    if (++kx == L.pkw) {
                        kx = 0;
                        ky++;
                    }
                }
            }
            act_t *dst = fmap_out + L.out_off + ((t.f0 + f) * L.ooy + t.y0 / L.pkh + r) * L.oox;
        CGAP_LABEL(ST_BURST)
            for (int x = 0; x < cols; x++) {
                CGAP_PRAGMA(HLS loop_tripcount min=1 max=CGAP_MAX_OCOLS)
                CGAP_PRAGMA(HLS PIPELINE II=1)
                CGAP_COUNT_WR(li);
                dst[x] = L.pool == CGAP_POOL_AVG ? act_t(cgap_div_round(sum[x].to_int64(), win)) : best[x];
            }
        }
    }
}

// One tile step: load tile ld, compute tile cp, store tile st; all arguments disjoint (see top).
static void cgap_conv_step(const LayerDesc &L, int li, const CgapConvTile &ld, const CgapConvTile &cp,
                           const CgapConvTile &st, const act_t *fmap_in, act_t *fmap_out, const wgt_t *wmem,
                           act_t ld_i[CGAP_IB_R][CGAP_IB_C][CGAP_IBUF_DEPTH], act_t ld_r[CGAP_RBUF_WORDS],
                           wgt_t ld_w[CGAP_POF][CGAP_WBUF_DEPTH], acc_t ld_b[CGAP_POF][CGAP_BBUF_DEPTH],
                           const act_t cp_i[CGAP_IB_R][CGAP_IB_C][CGAP_IBUF_DEPTH], const act_t cp_r[CGAP_RBUF_WORDS],
                           const wgt_t cp_w[CGAP_POF][CGAP_WBUF_DEPTH], const acc_t cp_b[CGAP_POF][CGAP_BBUF_DEPTH],
                           act_t cp_o[CGAP_OBUF_WORDS], const act_t st_o[CGAP_OBUF_WORDS]) {
    cgap_conv_load(L, li, ld, fmap_in, wmem, ld_i, ld_r, ld_w, ld_b);
    cgap_conv_compute(L, li, cp, cp_i, cp_r, cp_w, cp_b, cp_o);
    cgap_conv_store(L, li, st, st_o, fmap_out);
}

// conv: tiles (f0 outer, y0 inner) through the load / compute / store ping-pong.  Input, residual
// and output tiles swap with the tile parity; the weight tile with the output-channel tile parity.
static void cgap_conv_layer(const LayerDesc &L, int li, const act_t *fmap_in, act_t *fmap_out, const wgt_t *wmem) {
    static act_t ibuf0[CGAP_IB_R][CGAP_IB_C][CGAP_IBUF_DEPTH], ibuf1[CGAP_IB_R][CGAP_IB_C][CGAP_IBUF_DEPTH];
    static act_t rbuf0[CGAP_RBUF_WORDS], rbuf1[CGAP_RBUF_WORDS];
    static wgt_t wbuf0[CGAP_POF][CGAP_WBUF_DEPTH], wbuf1[CGAP_POF][CGAP_WBUF_DEPTH];
    static acc_t bbuf0[CGAP_POF][CGAP_BBUF_DEPTH], bbuf1[CGAP_POF][CGAP_BBUF_DEPTH];
    static act_t obuf0[CGAP_OBUF_WORDS], obuf1[CGAP_OBUF_WORDS];
    CGAP_PRAGMA(HLS ARRAY_PARTITION variable=ibuf0 complete dim=1)
    CGAP_PRAGMA(HLS ARRAY_PARTITION variable=ibuf0 complete dim=2)
    CGAP_PRAGMA(HLS ARRAY_PARTITION variable=ibuf1 complete dim=1)
    CGAP_PRAGMA(HLS ARRAY_PARTITION variable=ibuf1 complete dim=2)
    CGAP_PRAGMA(HLS ARRAY_PARTITION variable=wbuf0 complete dim=1)
    CGAP_PRAGMA(HLS ARRAY_PARTITION variable=wbuf1 complete dim=1)
    CGAP_PRAGMA(HLS ARRAY_PARTITION variable=bbuf0 complete dim=1)
    CGAP_PRAGMA(HLS ARRAY_PARTITION variable=bbuf1 complete dim=1)
    CGAP_PRAGMA(HLS ALLOCATION function instances=cgap_conv_step limit=1)
    const int ntiles = cgap_cdiv(L.nof, L.tof) * cgap_cdiv(L.noy, L.toy);
    CgapConvTile ld = cgap_conv_tile(L, 0, 0, 0), cp = cgap_conv_none(), st = cgap_conv_none();
CGAP_LABEL(C_STEPS)
    for (int s = 0; s < ntiles + 2; s++) {
        CGAP_PRAGMA(HLS loop_tripcount min=3 max=CGAP_MAX_TILES + 2)
        const bool odd = s & 1, wodd = cp.kf & 1;  // cp computes from the weight copy of its f tile
        if (!odd && !wodd)
            cgap_conv_step(L, li, ld, cp, st, fmap_in, fmap_out, wmem, ibuf0, rbuf0, wbuf1, bbuf1, ibuf1, rbuf1, wbuf0,
                           bbuf0, obuf1, obuf0);
        else if (!odd)
            cgap_conv_step(L, li, ld, cp, st, fmap_in, fmap_out, wmem, ibuf0, rbuf0, wbuf0, bbuf0, ibuf1, rbuf1, wbuf1,
                           bbuf1, obuf1, obuf0);
        else if (!wodd)
            cgap_conv_step(L, li, ld, cp, st, fmap_in, fmap_out, wmem, ibuf1, rbuf1, wbuf1, bbuf1, ibuf0, rbuf0, wbuf0,
                           bbuf0, obuf0, obuf1);
        else
            cgap_conv_step(L, li, ld, cp, st, fmap_in, fmap_out, wmem, ibuf1, rbuf1, wbuf0, bbuf0, ibuf0, rbuf0, wbuf1,
                           bbuf1, obuf0, obuf1);
        st = cp;
        cp = ld;
        ld = cgap_conv_next(L, ld);
    }
}

// ------------------------------------------------------------------------------- pool / gap / add tiles
// Tiles are output-channel tiles of tof channels (whole planes).  A plane buffer holds channel c of the
// tile in lane bank c % Pof, its (row, column) (padded-origin for pool inputs) in the FB_R x FB_C banks at
// linear row (c / Pof) * height + row.

typedef act_t cgap_fbuf_t[CGAP_POF][CGAP_FB_R][CGAP_FB_C][CGAP_FBUF_DEPTH];

struct CgapFlatTile {
    int valid, f0, tof;
};

// Burst of tof whole input planes (contiguous in DRAM) at src into the banked plane buffer, rows
// shifted down by top and columns right by left (a pool's padding, never read by valid lanes).
static void cgap_flat_load_planes(int li, const act_t *src, int tof, int h, int w, int top, int left,
                                  cgap_fbuf_t buf) {
    const int hp = h + top, cbw = cgap_cdiv(w + left, CGAP_FB_C);
    int c = 0, y = 0, x = 0;
CGAP_LABEL(LF_BURST)
    for (int k = 0; k < tof * h * w; k++) {
        CGAP_PRAGMA(HLS loop_tripcount min=1 max=CGAP_MAX_FSEG)
        CGAP_PRAGMA(HLS PIPELINE II=1)
        CGAP_COUNT_RD_A(li);
        const int R = (c / CGAP_POF) * hp + y + top, C = x + left;
        buf[c % CGAP_POF][R % CGAP_FB_R][C % CGAP_FB_C][(R / CGAP_FB_R) * cbw + C / CGAP_FB_C] = src[k];
        if (++x == w) {
            x = 0;
            if (++y == h) {
                y = 0;
                c++;
            }
        }
    }
}

static void cgap_flat_load(const LayerDesc &L, int li, const CgapFlatTile &t, const act_t *fmap_in, cgap_fbuf_t a,
                           cgap_fbuf_t b) {
    if (!t.valid) return;
    const int plane = L.niy * L.nix;
    cgap_flat_load_planes(li, fmap_in + L.in_off + t.f0 * plane, t.tof, L.niy, L.nix, L.kind == CGAP_KIND_POOL ? L.pt : 0,
                          L.kind == CGAP_KIND_POOL ? L.pl : 0, a);
    if (L.kind == CGAP_KIND_ADD) cgap_flat_load_planes(li, fmap_in + L.res_off + t.f0 * plane, t.tof, L.niy, L.nix, 0, 0, b);
}

// Write one output word (c, y, x) of a tile into the banked output plane buffer (height ooy, width oox).
static void cgap_flat_put(const LayerDesc &L, cgap_fbuf_t o, int c, int y, int x, act_t v) {
    const int R = (c / CGAP_POF) * L.ooy + y, cbw = cgap_cdiv(L.oox, CGAP_FB_C);
    o[c % CGAP_POF][R % CGAP_FB_R][x % CGAP_FB_C][(R / CGAP_FB_R) * cbw + x / CGAP_FB_C] = v;
}

// One block of a standalone pool: Pof x Poy x Pox outputs, window positions in the II=1 pipeline.
static void cgap_pool_block(const LayerDesc &L, int li, const CgapFlatTile &t, int of, int oy, int ox,
                            const cgap_fbuf_t a, cgap_fbuf_t o) {
    acc_t sum[CGAP_POF][CGAP_POY][CGAP_POX];
    act_t best[CGAP_POF][CGAP_POY][CGAP_POX];
    int count[CGAP_POF][CGAP_POY][CGAP_POX];
    CGAP_PRAGMA(HLS ARRAY_PARTITION variable=sum complete dim=0)
    CGAP_PRAGMA(HLS ARRAY_PARTITION variable=best complete dim=0)
    CGAP_PRAGMA(HLS ARRAY_PARTITION variable=count complete dim=0)
CGAP_LABEL(PB_INIT)
    for (int pf = 0; pf < CGAP_POF; pf++)
        for (int py = 0; py < CGAP_POY; py++)
            for (int px = 0; px < CGAP_POX; px++) {
                CGAP_PRAGMA(HLS UNROLL)
                sum[pf][py][px] = 0;
                best[pf][py][px] = act_t(CGAP_ACT_MIN);
                count[pf][py][px] = 0;
            }
    const int hp = L.niy + L.pt, wp = L.nix + L.pl, cbw = cgap_cdiv(wp, CGAP_FB_C);
    const int nrows = cgap_cdiv(t.tof, CGAP_POF) * hp;
    int ky = 0, kx = 0;
CGAP_LABEL(PB_WIN)
    for (int k = 0; k < L.kh * L.kw; k++) {
        CGAP_PRAGMA(HLS loop_tripcount min=1 max=CGAP_MAX_WIN)
        CGAP_PRAGMA(HLS PIPELINE II=1)
        CGAP_COUNT_ITER(li);
    CGAP_LABEL(PB_F)
        for (int pf = 0; pf < CGAP_POF; pf++) {
            CGAP_PRAGMA(HLS UNROLL)
            act_t win[CGAP_POY][CGAP_POX];
            cgap_window<CGAP_FB_R, CGAP_FB_C, CGAP_FBUF_DEPTH>(a[pf], (of / CGAP_POF) * hp + oy * L.sh + ky,
                                                              ox * L.sw + kx, L.sh, L.sw, nrows, wp, cbw, win);
            for (int py = 0; py < CGAP_POY; py++)
                for (int px = 0; px < CGAP_POX; px++) {
                    CGAP_PRAGMA(HLS UNROLL)
                    const int y = (oy + py) * L.sh + ky - L.pt, x = (ox + px) * L.sw + kx - L.pl;
                    const bool lane = of + pf < t.tof && oy + py < L.ooy && ox + px < L.oox;
                    if (lane && y >= 0 && y < L.niy && x >= 0 && x < L.nix) {
                        const act_t v = win[py][px];
                        sum[pf][py][px] += v;
                        if (v > best[pf][py][px]) best[pf][py][px] = v;
                        count[pf][py][px]++;
                    }
                }
        }
        if (++kx == L.kw) {
            kx = 0;
            ky++;
        }
    }
CGAP_LABEL(PB_OUT)
    for (int pf = 0; pf < CGAP_POF; pf++)
        for (int py = 0; py < CGAP_POY; py++)
            for (int px = 0; px < CGAP_POX; px++) {
                CGAP_PRAGMA(HLS PIPELINE II=1)
                if (of + pf < t.tof && oy + py < L.ooy && ox + px < L.oox) {
                    const int n = L.count_pad ? L.kh * L.kw : count[pf][py][px];
                    act_t v = L.pool == CGAP_POOL_MAX ? best[pf][py][px]
                                                      : act_t(cgap_div_round(sum[pf][py][px].to_int64(), n));
                    if (L.relu && v < 0) v = 0;
                    cgap_flat_put(L, o, of + pf, oy + py, ox + px, v);
                }
            }
}

// pool: for of, oy, ox blocks / window pipeline.
static void cgap_pool_tile(const LayerDesc &L, int li, const CgapFlatTile &t, const cgap_fbuf_t a, cgap_fbuf_t o) {
CGAP_LABEL(P_F)
    for (int of = 0; of < t.tof; of += CGAP_POF) {
        CGAP_PRAGMA(HLS loop_tripcount min=1 max=CGAP_MAX_FBLOCKS)
    CGAP_LABEL(P_Y)
        for (int oy = 0; oy < L.ooy; oy += CGAP_POY) {
            CGAP_PRAGMA(HLS loop_tripcount min=1 max=CGAP_MAX_YBLOCKS)
        CGAP_LABEL(P_X)
            for (int ox = 0; ox < L.oox; ox += CGAP_POX) {
                CGAP_PRAGMA(HLS loop_tripcount min=1 max=CGAP_MAX_XBLOCKS)
                cgap_pool_block(L, li, t, of, oy, ox, a, o);
            }
        }
    }
}

// gap: for of / Poy x Pox blocks of the input plane in the II=1 pipeline / divide.
static void cgap_gap_tile(const LayerDesc &L, int li, const CgapFlatTile &t, const cgap_fbuf_t a, cgap_fbuf_t o) {
    const int cbw = cgap_cdiv(L.nix, CGAP_FB_C), nrows = cgap_cdiv(t.tof, CGAP_POF) * L.niy;
CGAP_LABEL(G_F)
    for (int of = 0; of < t.tof; of += CGAP_POF) {
        CGAP_PRAGMA(HLS loop_tripcount min=1 max=CGAP_MAX_FBLOCKS)
        acc_t sum[CGAP_POF];
        CGAP_PRAGMA(HLS ARRAY_PARTITION variable=sum complete dim=0)
    CGAP_LABEL(G_INIT)
        for (int pf = 0; pf < CGAP_POF; pf++) {
            CGAP_PRAGMA(HLS UNROLL)
            sum[pf] = 0;
        }
    CGAP_LABEL(G_Y)
        for (int by = 0; by < L.niy; by += CGAP_POY) {
            CGAP_PRAGMA(HLS loop_tripcount min=1 max=CGAP_MAX_YBLOCKS)
        CGAP_LABEL(G_X)
            for (int bx = 0; bx < L.nix; bx += CGAP_POX) {
                CGAP_PRAGMA(HLS loop_tripcount min=1 max=CGAP_MAX_XBLOCKS)
                CGAP_PRAGMA(HLS PIPELINE II=1)
                CGAP_COUNT_ITER(li);
            CGAP_LABEL(G_LANES)
                for (int pf = 0; pf < CGAP_POF; pf++) {
                    CGAP_PRAGMA(HLS UNROLL)
                    act_t win[CGAP_POY][CGAP_POX];
                    cgap_window<CGAP_FB_R, CGAP_FB_C, CGAP_FBUF_DEPTH>(a[pf], (of / CGAP_POF) * L.niy + by, bx, 1, 1,
                                                                      nrows, L.nix, cbw, win);
                    for (int py = 0; py < CGAP_POY; py++)
                        for (int px = 0; px < CGAP_POX; px++) {
                            CGAP_PRAGMA(HLS UNROLL)
                            if (of + pf < t.tof && by + py < L.niy && bx + px < L.nix) sum[pf] += win[py][px];
                        }
                }
            }
        }
    CGAP_LABEL(G_OUT)
        for (int pf = 0; pf < CGAP_POF; pf++) {
            CGAP_PRAGMA(HLS PIPELINE II=1)
            if (of + pf < t.tof) cgap_flat_put(L, o, of + pf, 0, 0, act_t(cgap_div_round(sum[pf].to_int64(), L.niy * L.nix)));
        }
    }
}

// add: for of, oy, ox blocks (one II=1 iteration each): align both, requantise, ReLU.
static void cgap_add_tile(const LayerDesc &L, int li, const CgapFlatTile &t, const cgap_fbuf_t a,
                          const cgap_fbuf_t b, cgap_fbuf_t o) {
    const int cbw = cgap_cdiv(L.nox, CGAP_FB_C), nrows = cgap_cdiv(t.tof, CGAP_POF) * L.noy;
CGAP_LABEL(A_F)
    for (int of = 0; of < t.tof; of += CGAP_POF) {
        CGAP_PRAGMA(HLS loop_tripcount min=1 max=CGAP_MAX_FBLOCKS)
    CGAP_LABEL(A_Y)
        for (int oy = 0; oy < L.noy; oy += CGAP_POY) {
            CGAP_PRAGMA(HLS loop_tripcount min=1 max=CGAP_MAX_YBLOCKS)
        CGAP_LABEL(A_X)
            for (int ox = 0; ox < L.nox; ox += CGAP_POX) {
                CGAP_PRAGMA(HLS loop_tripcount min=1 max=CGAP_MAX_XBLOCKS)
                CGAP_PRAGMA(HLS PIPELINE II=1)
                CGAP_COUNT_ITER(li);
            CGAP_LABEL(A_LANES)
                for (int pf = 0; pf < CGAP_POF; pf++) {
                    CGAP_PRAGMA(HLS UNROLL)
                    const int r0 = (of / CGAP_POF) * L.noy + oy;
                    act_t va[CGAP_POY][CGAP_POX], vb[CGAP_POY][CGAP_POX], out[CGAP_POY][CGAP_POX];
                    bool mask[CGAP_POY][CGAP_POX];
                    cgap_window<CGAP_FB_R, CGAP_FB_C, CGAP_FBUF_DEPTH>(a[pf], r0, ox, 1, 1, nrows, L.nox, cbw, va);
                    cgap_window<CGAP_FB_R, CGAP_FB_C, CGAP_FBUF_DEPTH>(b[pf], r0, ox, 1, 1, nrows, L.nox, cbw, vb);
                    for (int py = 0; py < CGAP_POY; py++)
                        for (int px = 0; px < CGAP_POX; px++) {
                            CGAP_PRAGMA(HLS UNROLL)
                            mask[py][px] = of + pf < t.tof && oy + py < L.noy && ox + px < L.nox;
                            out[py][px] = 0;
                            if (mask[py][px]) {
                                const acc_t s = cgap_align(va[py][px], L.in_shift) + cgap_align(vb[py][px], L.res_shift);
                                out[py][px] = cgap_requant(s, L.out_shift, L.relu != 0, li);
                            }
                        }
                    cgap_window_write<CGAP_FB_R, CGAP_FB_C, CGAP_FBUF_DEPTH>(o[pf], r0, ox, cbw, out, mask);
                }
            }
        }
    }
}

static void cgap_flat_compute(const LayerDesc &L, int li, const CgapFlatTile &t, const cgap_fbuf_t a,
                              const cgap_fbuf_t b, cgap_fbuf_t o) {
    if (!t.valid) return;
    if (L.kind == CGAP_KIND_POOL) cgap_pool_tile(L, li, t, a, o);
    else if (L.kind == CGAP_KIND_GAP) cgap_gap_tile(L, li, t, a, o);
    else cgap_add_tile(L, li, t, a, b, o);
}

// Store stage: the tile's tof output planes are contiguous in DRAM: one burst.
static void cgap_flat_store(const LayerDesc &L, int li, const CgapFlatTile &t, const cgap_fbuf_t o, act_t *fmap_out) {
    if (!t.valid) return;
    act_t *dst = fmap_out + L.out_off + t.f0 * L.ooy * L.oox;
    const int cbw = cgap_cdiv(L.oox, CGAP_FB_C);
    int c = 0, y = 0, x = 0;
CGAP_LABEL(SF_BURST)
    for (int k = 0; k < t.tof * L.ooy * L.oox; k++) {
        CGAP_PRAGMA(HLS loop_tripcount min=1 max=CGAP_MAX_FOSEG)
        CGAP_PRAGMA(HLS PIPELINE II=1)
        CGAP_COUNT_WR(li);
        const int R = (c / CGAP_POF) * L.ooy + y;
        dst[k] = o[c % CGAP_POF][R % CGAP_FB_R][x % CGAP_FB_C][(R / CGAP_FB_R) * cbw + x / CGAP_FB_C];
        if (++x == L.oox) {
            x = 0;
            if (++y == L.ooy) {
                y = 0;
                c++;
            }
        }
    }
}

static void cgap_flat_step(const LayerDesc &L, int li, const CgapFlatTile &ld, const CgapFlatTile &cp,
                           const CgapFlatTile &st, const act_t *fmap_in, act_t *fmap_out, cgap_fbuf_t ld_a,
                           cgap_fbuf_t ld_b, const cgap_fbuf_t cp_a, const cgap_fbuf_t cp_b, cgap_fbuf_t cp_o,
                           const cgap_fbuf_t st_o) {
    cgap_flat_load(L, li, ld, fmap_in, ld_a, ld_b);
    cgap_flat_compute(L, li, cp, cp_a, cp_b, cp_o);
    cgap_flat_store(L, li, st, st_o, fmap_out);
}

static CgapFlatTile cgap_flat_tile(const LayerDesc &L, int f0) {
    CgapFlatTile t;
    t.valid = f0 < L.nof;
    t.f0 = f0;
    t.tof = t.valid ? cgap_min(L.tof, L.nof - f0) : 0;
    return t;
}

// pool / gap / add: channel tiles through the same load / compute / store ping-pong as conv.
static void cgap_flat_layer(const LayerDesc &L, int li, const act_t *fmap_in, act_t *fmap_out) {
    static cgap_fbuf_t fa0, fa1, fb0, fb1, fo0, fo1;
    CGAP_PRAGMA(HLS ARRAY_PARTITION variable=fa0 complete dim=1)
    CGAP_PRAGMA(HLS ARRAY_PARTITION variable=fa0 complete dim=2)
    CGAP_PRAGMA(HLS ARRAY_PARTITION variable=fa0 complete dim=3)
    CGAP_PRAGMA(HLS ARRAY_PARTITION variable=fa1 complete dim=1)
    CGAP_PRAGMA(HLS ARRAY_PARTITION variable=fa1 complete dim=2)
    CGAP_PRAGMA(HLS ARRAY_PARTITION variable=fa1 complete dim=3)
    CGAP_PRAGMA(HLS ARRAY_PARTITION variable=fb0 complete dim=1)
    CGAP_PRAGMA(HLS ARRAY_PARTITION variable=fb0 complete dim=2)
    CGAP_PRAGMA(HLS ARRAY_PARTITION variable=fb0 complete dim=3)
    CGAP_PRAGMA(HLS ARRAY_PARTITION variable=fb1 complete dim=1)
    CGAP_PRAGMA(HLS ARRAY_PARTITION variable=fb1 complete dim=2)
    CGAP_PRAGMA(HLS ARRAY_PARTITION variable=fb1 complete dim=3)
    CGAP_PRAGMA(HLS ARRAY_PARTITION variable=fo0 complete dim=1)
    CGAP_PRAGMA(HLS ARRAY_PARTITION variable=fo0 complete dim=2)
    CGAP_PRAGMA(HLS ARRAY_PARTITION variable=fo0 complete dim=3)
    CGAP_PRAGMA(HLS ARRAY_PARTITION variable=fo1 complete dim=1)
    CGAP_PRAGMA(HLS ARRAY_PARTITION variable=fo1 complete dim=2)
    CGAP_PRAGMA(HLS ARRAY_PARTITION variable=fo1 complete dim=3)
    CGAP_PRAGMA(HLS ALLOCATION function instances=cgap_flat_step limit=1)
    const int ntiles = cgap_cdiv(L.nof, L.tof);
    CgapFlatTile ld = cgap_flat_tile(L, 0), cp = cgap_flat_tile(L, L.nof), st = cp;
CGAP_LABEL(F_STEPS)
    for (int s = 0; s < ntiles + 2; s++) {
        CGAP_PRAGMA(HLS loop_tripcount min=3 max=CGAP_MAX_FTILES + 2)
        if (s & 1) cgap_flat_step(L, li, ld, cp, st, fmap_in, fmap_out, fa1, fb1, fa0, fb0, fo0, fo1);
        else cgap_flat_step(L, li, ld, cp, st, fmap_in, fmap_out, fa0, fb0, fa1, fb1, fo1, fo0);
        st = cp;
        cp = ld;
        ld = cgap_flat_tile(L, ld.valid ? ld.f0 + L.tof : L.nof);
    }
}

// Dispatch one row of the layer table.  fmap_in and fmap_out are the same DRAM region behind two
// m_axi ports (reads, writes); a layer never writes a tensor it reads.
static void cgap_run_layer(const LayerDesc &L, int li, const act_t *fmap_in, act_t *fmap_out, const wgt_t *wmem) {
    if (L.kind == CGAP_KIND_CONV) cgap_conv_layer(L, li, fmap_in, fmap_out, wmem);
    else cgap_flat_layer(L, li, fmap_in, fmap_out);
}

#endif  // CGAP_ENGINE_H
