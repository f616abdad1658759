// A whole cgap_window (hls_templates/cgap_engine.h) for validation of the per-lane model: per bank the read
// address ((rq + (rb < rm)) * cbw + cq + (cb < cm), AB bits) and the zero mask of positions outside
// [rmin, rmax) x [cmin, cmax); per lane the bank index rb = rm + py*sh (- BR), cb = cm + px*sw (- BC) in C ints
// and the BR*BC:1 select.  r0 / BR, r0 % BR, c0 / BC, c0 % BC (one each per window) are inputs.
module window #(parameter BR = 4, parameter BC = 4, parameter POY = 2, parameter POX = 2, parameter W = 16,
                parameter AB = 10) (
    input  [BR*BC*W-1:0]     bank_in,
    input  signed [31:0]     rq, rm, cq, cm, sh, sw, rmin, rmax, cmin, cmax, cbw,
    output [BR*BC*AB-1:0]    addr,
    output [POY*POX*W-1:0]   win
);
    wire signed [31:0] base0 = rq * cbw;
    wire signed [31:0] base1 = base0 + cbw;
    wire [BR*BC*W-1:0] masked;
    genvar rb, cb, py, px;
    generate
        for (rb = 0; rb < BR; rb = rb + 1) begin : row
            wire signed [31:0] gr = rq + (rb < rm ? 1 : 0);
            wire signed [31:0] r = gr * BR + rb;
            wire row_ok = r >= rmin && r < rmax;
            wire signed [31:0] base = rb < rm ? base1 : base0;
            for (cb = 0; cb < BC; cb = cb + 1) begin : col
                wire signed [31:0] gc = cq + (cb < cm ? 1 : 0);
                wire signed [31:0] c = gc * BC + cb;
                wire inside = row_ok && c >= cmin && c < cmax;
                wire signed [31:0] a = base + gc;
                assign addr[(rb*BC + cb)*AB +: AB] = a[AB-1:0];
                assign masked[(rb*BC + cb)*W +: W] = inside ? bank_in[(rb*BC + cb)*W +: W] : {W{1'b0}};
            end
        end
        for (py = 0; py < POY; py = py + 1) begin : lane_y
            wire signed [31:0] ry = rm + py * sh;
            wire signed [31:0] rbi = ry >= BR ? ry - BR : ry;
            for (px = 0; px < POX; px = px + 1) begin : lane_x
                wire signed [31:0] cx = cm + px * sw;
                wire signed [31:0] cbi = cx >= BC ? cx - BC : cx;
                wire [31:0] sel = rbi * BC + cbi;
                assign win[(py*POX + px)*W +: W] = masked[sel[$clog2(BR*BC)-1:0]*W +: W];
            end
        end
    endgenerate
endmodule
