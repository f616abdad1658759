// cgap_shift_round (hls_templates/cgap_fixed.h): x * 2^-s rounded half-up; a two-way variable shifter.
// s > 0: ((x >> (s-1)) + 1) >> 1 (arithmetic); s <= 0: x << -s.  s is a C int (32 bits), as in the engine.
module shift_round #(parameter W = 50) (
    input  signed [W-1:0]  x,
    input  signed [31:0]   s,
    output signed [W-1:0]  y
);
    wire [31:0]          right = s - 32'sd1;
    wire [31:0]          left = -s;
    wire signed [W-1:0]  t = x >>> right;
    wire signed [W-1:0]  r = (t + 1) >>> 1;
    wire signed [W-1:0]  l = x << left;
    assign y = (s > 0) ? r : l;
endmodule
