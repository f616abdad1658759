// One crossbar lane: picks one of N W-bit words by a run-time index, as every lane of cgap_window
// (win[py][px] = bank[rb][cb]), the drain's held[pf][dy][dx], the store's obuf[f % Pof][x % NB] read, the
// element-wise lanes' a[x % FB] reads and the loads' per-bank word select do in hls_templates/cgap_engine.h.  The index is binary (the bank
// number); indices >= N never occur (HLS leaves them unspecified, as here).
module mux_lane #(parameter N = 4, parameter W = 16) (
    input  [N*W-1:0]          d,
    input  [$clog2(N)-1:0]    sel,
    output [W-1:0]            q
);
    wire [W-1:0] words [0:N-1];
    genvar i;
    generate
        for (i = 0; i < N; i = i + 1) begin : word
            assign words[i] = d[i*W +: W];
        end
    endgenerate
    assign q = words[sel];
endmodule
