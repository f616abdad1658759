// cgap engine kernels: one reusable engine driven by the generated layer table (cgap_layers.h).
// Static, hand-written; copied verbatim into generated/<name>/firmware/.  The loop nest of every
// kind is exactly the one documented in fpga_model/schedule.py; CGAP_COUNT_ITER marks the II=1
// pipeline body whose trip count fpga_model.schedule.compute_iterations predicts.
#ifndef CGAP_ENGINE_H
#define CGAP_ENGINE_H

#include "cgap_fixed.h"
#include "cgap_layers.h"

static inline int cgap_min(int a, int b) { return a < b ? a : b; }

// Weights of output channels [f0, f0+tof) into wbuf[step][f] (row stride tofp, a multiple of Pof)
// and their biases (CGAP_BIAS_WORDS words each, low word first) into bbuf.
static void cgap_load_weights(const LayerDesc &L, const wgt_t *wmem, int f0, int tof, int tofp,
                              wgt_t wbuf[CGAP_WBUF_WORDS], acc_t bbuf[CGAP_BBUF_WORDS]) {
    const int steps = L.nif * L.kh * L.kw;
CGAP_LABEL(LW_F)
    for (int f = 0; f < tof; f++) {
        CGAP_PRAGMA(HLS loop_tripcount min=1 max=CGAP_MAX_TOF)
    CGAP_LABEL(LW_T)
        for (int t = 0; t < steps; t++) {
            CGAP_PRAGMA(HLS loop_tripcount min=1 max=CGAP_MAX_STEPS)
            CGAP_PRAGMA(HLS PIPELINE II=1)
            wbuf[t * tofp + f] = wmem[L.w_off + (f0 + f) * steps + t];
        }
        acc_t b = 0;
    CGAP_LABEL(LW_B)
        for (int k = CGAP_BIAS_WORDS - 1; k >= 0; k--) {
            b = (b << CGAP_WEIGHT_BITS) | acc_t(wbits_t(wmem[L.b_off + (f0 + f) * CGAP_BIAS_WORDS + k]));
        }
        bbuf[f] = b;
    }
}

// Input rows [y0*S - pt, y0*S - pt + tiy) of all Nif channels, zero padded, into ibuf[i][r][c].
static void cgap_load_input(const LayerDesc &L, const act_t *fmap, int y0, int tiy, int pw,
                            act_t ibuf[CGAP_IBUF_WORDS]) {
CGAP_LABEL(LI_C)
    for (int i = 0; i < L.nif; i++) {
        CGAP_PRAGMA(HLS loop_tripcount min=1 max=CGAP_MAX_CH)
    CGAP_LABEL(LI_R)
        for (int r = 0; r < tiy; r++) {
            CGAP_PRAGMA(HLS loop_tripcount min=1 max=CGAP_MAX_ROWS)
            const int y = y0 * L.sh + r - L.pt;
        CGAP_LABEL(LI_X)
            for (int c = 0; c < pw; c++) {
                CGAP_PRAGMA(HLS loop_tripcount min=1 max=CGAP_MAX_COLS)
                CGAP_PRAGMA(HLS PIPELINE II=1)
                const int x = c - L.pl;
                const bool inside = y >= 0 && y < L.niy && x >= 0 && x < L.nix;
                ibuf[(i * tiy + r) * pw + c] = inside ? fmap[L.in_off + (i * L.niy + y) * L.nix + x] : act_t(0);
            }
        }
    }
}

// One Pof x Poy x Pox block of outputs: bias, the II=1 MAC pipeline over (i, ky, kx),
// then residual add, requantisation and ReLU into obuf[f][y][x] (tile coordinates).
static void cgap_conv_block(const LayerDesc &L, int li, int of, int oy, int ox, int tof, int toy, int tiy,
                            int pw, int tofp, const act_t ibuf[CGAP_IBUF_WORDS],
                            const wgt_t wbuf[CGAP_WBUF_WORDS], const acc_t bbuf[CGAP_BBUF_WORDS],
                            const act_t *fmap, int f0, int y0, act_t obuf[CGAP_OBUF_WORDS]) {
    acc_t acc[CGAP_POF][CGAP_POY][CGAP_POX];
    CGAP_PRAGMA(HLS ARRAY_PARTITION variable=acc complete dim=0)
CGAP_LABEL(INIT)
    for (int pf = 0; pf < CGAP_POF; pf++)
        for (int py = 0; py < CGAP_POY; py++)
            for (int px = 0; px < CGAP_POX; px++) {
                CGAP_PRAGMA(HLS UNROLL)
                acc[pf][py][px] = of + pf < tof ? bbuf[of + pf] : acc_t(0);
            }
    const int steps = L.nif * L.kh * L.kw;
    int i = 0, ky = 0, kx = 0;
CGAP_LABEL(MAC)
    for (int t = 0; t < steps; t++) {
        CGAP_PRAGMA(HLS loop_tripcount min=1 max=CGAP_MAX_STEPS)
        CGAP_PRAGMA(HLS PIPELINE II=1)
        CGAP_COUNT_ITER(li);
    CGAP_LABEL(MAC_F)
        for (int pf = 0; pf < CGAP_POF; pf++)
        CGAP_LABEL(MAC_Y)
            for (int py = 0; py < CGAP_POY; py++)
            CGAP_LABEL(MAC_X)
                for (int px = 0; px < CGAP_POX; px++) {
                    CGAP_PRAGMA(HLS UNROLL)
                    const int f = of + pf, y = oy + py, x = ox + px;
                    if (f < tof && y < toy && x < L.nox) {
                        acc[pf][py][px] += wbuf[t * tofp + f] * ibuf[(i * tiy + y * L.sh + ky) * pw + x * L.sw + kx];
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
                if (f < tof && y < toy && x < L.nox) {
                    acc_t a = acc[pf][py][px];
                    if (L.has_res) a += cgap_align(fmap[L.res_off + ((f0 + f) * L.noy + y0 + y) * L.nox + x], L.res_shift);
                    obuf[(f * toy + y) * L.nox + x] = cgap_requant(a, L.out_shift, L.relu != 0, li);
                }
            }
}

// Store an output tile to DRAM, applying the fused kernel == stride pool (1x1 when none).
static void cgap_store_tile(const LayerDesc &L, act_t *fmap, int f0, int y0, int tof, int toy,
                            const act_t obuf[CGAP_OBUF_WORDS]) {
    const int rows = toy / L.pkh, cols = L.nox / L.pkw, win = L.pkh * L.pkw;
CGAP_LABEL(ST_F)
    for (int f = 0; f < tof; f++) {
        CGAP_PRAGMA(HLS loop_tripcount min=1 max=CGAP_MAX_TOF)
    CGAP_LABEL(ST_Y)
        for (int r = 0; r < rows; r++) {
            CGAP_PRAGMA(HLS loop_tripcount min=1 max=CGAP_MAX_ROWS)
        CGAP_LABEL(ST_X)
            for (int c = 0; c < cols; c++) {
                CGAP_PRAGMA(HLS loop_tripcount min=1 max=CGAP_MAX_COLS)
                act_t best = obuf[(f * toy + r * L.pkh) * L.nox + c * L.pkw];
                acc_t sum = 0;
            CGAP_LABEL(ST_K)
                for (int k = 0; k < win; k++) {
                    CGAP_PRAGMA(HLS loop_tripcount min=1 max=CGAP_MAX_WIN)
                    CGAP_PRAGMA(HLS PIPELINE II=1)
                    const act_t v = obuf[(f * toy + r * L.pkh + k / L.pkw) * L.nox + c * L.pkw + k % L.pkw];
                    sum += v;
                    if (v > best) best = v;
                }
                const act_t out = L.pool == CGAP_POOL_AVG ? act_t(cgap_div_round(sum.to_int64(), win)) : best;
                fmap[L.out_off + ((f0 + f) * L.ooy + y0 / L.pkh + r) * L.oox + c] = out;
            }
        }
    }
}

// conv: for f0 (weights per tile) / for y0 (input tile) / for of, oy, ox blocks / MAC pipeline / store.
static void cgap_conv_layer(const LayerDesc &L, int li, act_t *fmap, const wgt_t *wmem) {
    static act_t ibuf[CGAP_IBUF_WORDS];
    static wgt_t wbuf[CGAP_WBUF_WORDS];
    static acc_t bbuf[CGAP_BBUF_WORDS];
    static act_t obuf[CGAP_OBUF_WORDS];
    CGAP_PRAGMA(HLS ARRAY_PARTITION variable=wbuf cyclic factor=CGAP_POF)
    CGAP_PRAGMA(HLS ARRAY_PARTITION variable=bbuf cyclic factor=CGAP_POF)
    const int pw = L.nix + L.pl + L.pr;
CGAP_LABEL(F_TILES)
    for (int f0 = 0; f0 < L.nof; f0 += L.tof) {
        CGAP_PRAGMA(HLS loop_tripcount min=1 max=CGAP_MAX_FTILES)
        const int tof = cgap_min(L.tof, L.nof - f0);
        const int tofp = (tof + CGAP_POF - 1) / CGAP_POF * CGAP_POF;
        cgap_load_weights(L, wmem, f0, tof, tofp, wbuf, bbuf);
    CGAP_LABEL(Y_TILES)
        for (int y0 = 0; y0 < L.noy; y0 += L.toy) {
            CGAP_PRAGMA(HLS loop_tripcount min=1 max=CGAP_MAX_YTILES)
            const int toy = cgap_min(L.toy, L.noy - y0);
            const int tiy = (toy - 1) * L.sh + L.kh;
            cgap_load_input(L, fmap, y0, tiy, pw, ibuf);
        CGAP_LABEL(B_F)
            for (int of = 0; of < tof; of += CGAP_POF) {
                CGAP_PRAGMA(HLS loop_tripcount min=1 max=CGAP_MAX_FBLOCKS)
            CGAP_LABEL(B_Y)
                for (int oy = 0; oy < toy; oy += CGAP_POY) {
                    CGAP_PRAGMA(HLS loop_tripcount min=1 max=CGAP_MAX_YBLOCKS)
                CGAP_LABEL(B_X)
                    for (int ox = 0; ox < L.nox; ox += CGAP_POX) {
                        CGAP_PRAGMA(HLS loop_tripcount min=1 max=CGAP_MAX_XBLOCKS)
                        cgap_conv_block(L, li, of, oy, ox, tof, toy, tiy, pw, tofp, ibuf, wbuf, bbuf, fmap, f0, y0, obuf);
                    }
                }
            }
            cgap_store_tile(L, fmap, f0, y0, tof, toy, obuf);
        }
    }
}

// One block of a standalone pool: Pof x Poy x Pox outputs, window positions in the II=1 pipeline.
static void cgap_pool_block(const LayerDesc &L, int li, act_t *fmap, int c0, int oy, int ox, int tof) {
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
    int ky = 0, kx = 0;
CGAP_LABEL(PB_WIN)
    for (int k = 0; k < L.kh * L.kw; k++) {
        CGAP_PRAGMA(HLS loop_tripcount min=1 max=CGAP_MAX_WIN)
        CGAP_PRAGMA(HLS PIPELINE II=1)
        CGAP_COUNT_ITER(li);
    CGAP_LABEL(PB_F)
        for (int pf = 0; pf < CGAP_POF; pf++)
            for (int py = 0; py < CGAP_POY; py++)
                for (int px = 0; px < CGAP_POX; px++) {
                    CGAP_PRAGMA(HLS UNROLL)
                    const int y = (oy + py) * L.sh + ky - L.pt, x = (ox + px) * L.sw + kx - L.pl;
                    const bool lane = pf < tof && oy + py < L.ooy && ox + px < L.oox;
                    if (lane && y >= 0 && y < L.niy && x >= 0 && x < L.nix) {
                        const act_t v = fmap[L.in_off + ((c0 + pf) * L.niy + y) * L.nix + x];
                        sum[pf][py][px] += v;
                        if (v > best[pf][py][px]) best[pf][py][px] = v;
                        count[pf][py][px]++;
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
                if (pf < tof && oy + py < L.ooy && ox + px < L.oox) {
                    const int n = L.count_pad ? L.kh * L.kw : count[pf][py][px];
                    act_t v = L.pool == CGAP_POOL_MAX ? best[pf][py][px]
                                                      : act_t(cgap_div_round(sum[pf][py][px].to_int64(), n));
                    if (L.relu && v < 0) v = 0;
                    fmap[L.out_off + ((c0 + pf) * L.ooy + oy + py) * L.oox + ox + px] = v;
                }
            }
}

// pool: for f0 / for of, oy, ox blocks / window pipeline.
static void cgap_pool_layer(const LayerDesc &L, int li, act_t *fmap) {
CGAP_LABEL(P_TILES)
    for (int f0 = 0; f0 < L.nof; f0 += L.tof) {
        CGAP_PRAGMA(HLS loop_tripcount min=1 max=CGAP_MAX_FTILES)
        const int tof = cgap_min(L.tof, L.nof - f0);
    CGAP_LABEL(P_F)
        for (int of = 0; of < tof; of += CGAP_POF) {
            CGAP_PRAGMA(HLS loop_tripcount min=1 max=CGAP_MAX_FBLOCKS)
        CGAP_LABEL(P_Y)
            for (int oy = 0; oy < L.ooy; oy += CGAP_POY) {
                CGAP_PRAGMA(HLS loop_tripcount min=1 max=CGAP_MAX_YBLOCKS)
            CGAP_LABEL(P_X)
                for (int ox = 0; ox < L.oox; ox += CGAP_POX) {
                    CGAP_PRAGMA(HLS loop_tripcount min=1 max=CGAP_MAX_XBLOCKS)
                    cgap_pool_block(L, li, fmap, f0 + of, oy, ox, cgap_min(CGAP_POF, tof - of));
                }
            }
        }
    }
}

// gap: for f0 / for of / Poy x Pox blocks of the input plane in the II=1 pipeline / divide.
static void cgap_gap_layer(const LayerDesc &L, int li, act_t *fmap) {
CGAP_LABEL(G_TILES)
    for (int f0 = 0; f0 < L.nof; f0 += L.tof) {
        CGAP_PRAGMA(HLS loop_tripcount min=1 max=CGAP_MAX_FTILES)
        const int tof = cgap_min(L.tof, L.nof - f0);
    CGAP_LABEL(G_F)
        for (int of = 0; of < tof; of += CGAP_POF) {
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
                    for (int pf = 0; pf < CGAP_POF; pf++)
                        for (int py = 0; py < CGAP_POY; py++)
                            for (int px = 0; px < CGAP_POX; px++) {
                                CGAP_PRAGMA(HLS UNROLL)
                                const int c = f0 + of + pf, y = by + py, x = bx + px;
                                if (of + pf < tof && y < L.niy && x < L.nix) sum[pf] += fmap[L.in_off + (c * L.niy + y) * L.nix + x];
                            }
                }
            }
        CGAP_LABEL(G_OUT)
            for (int pf = 0; pf < CGAP_POF; pf++) {
                CGAP_PRAGMA(HLS PIPELINE II=1)
                if (of + pf < tof) fmap[L.out_off + f0 + of + pf] = act_t(cgap_div_round(sum[pf].to_int64(), L.niy * L.nix));
            }
        }
    }
}

// add: for f0 / for of, oy, ox blocks (one II=1 iteration each): align both, requantise, ReLU.
static void cgap_add_layer(const LayerDesc &L, int li, act_t *fmap) {
CGAP_LABEL(A_TILES)
    for (int f0 = 0; f0 < L.nof; f0 += L.tof) {
        CGAP_PRAGMA(HLS loop_tripcount min=1 max=CGAP_MAX_FTILES)
        const int tof = cgap_min(L.tof, L.nof - f0);
    CGAP_LABEL(A_F)
        for (int of = 0; of < tof; of += CGAP_POF) {
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
                    for (int pf = 0; pf < CGAP_POF; pf++)
                        for (int py = 0; py < CGAP_POY; py++)
                            for (int px = 0; px < CGAP_POX; px++) {
                                CGAP_PRAGMA(HLS UNROLL)
                                const int y = oy + py, x = ox + px;
                                if (of + pf < tof && y < L.noy && x < L.nox) {
                                    const int idx = ((f0 + of + pf) * L.noy + y) * L.nox + x;
                                    const acc_t a = cgap_align(fmap[L.in_off + idx], L.in_shift) +
                                                    cgap_align(fmap[L.res_off + idx], L.res_shift);
                                    fmap[L.out_off + idx] = cgap_requant(a, L.out_shift, L.relu != 0, li);
                                }
                            }
                }
            }
        }
    }
}

// Dispatch one row of the layer table.
static void cgap_run_layer(const LayerDesc &L, int li, act_t *fmap, const wgt_t *wmem) {
    if (L.kind == CGAP_KIND_CONV) cgap_conv_layer(L, li, fmap, wmem);
    else if (L.kind == CGAP_KIND_POOL) cgap_pool_layer(L, li, fmap);
    else if (L.kind == CGAP_KIND_GAP) cgap_gap_layer(L, li, fmap);
    else if (L.kind == CGAP_KIND_ADD) cgap_add_layer(L, li, fmap);
}

#endif  // CGAP_ENGINE_H
