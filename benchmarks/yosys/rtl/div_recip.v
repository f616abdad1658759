// cgap_div_recip (hls_templates/cgap_engine.h): x / n rounded half-up as a multiply by the run-time
// reciprocal m and a run-time shift s.  One per lane of the conv store and of the standalone pool (V lanes
// each) and one in the GAP.
module div_recip #(parameter ABITS = 24, parameter MBITS = 25, parameter ACC = 48, parameter ACT = 16) (
    input  signed [ACC-1:0]  x,
    input  signed [31:0]     n,
    input  [MBITS-1:0]       m,
    input  signed [31:0]     s,
    output [ACT-1:0]         q
);
    wire signed [ABITS:0]       nn = n;
    wire signed [ABITS:0]       a = {x[ABITS-1:0], 1'b0} + nn;
    wire                        neg = a[ABITS];
    wire [ABITS-1:0]            mag = neg ? (-a + (nn <<< 1) - 1) : a[ABITS-1:0];
    wire [ABITS+MBITS-1:0]      prod = mag * m;
    wire [ABITS-1:0]            quo = prod >> s;
    wire signed [ABITS:0]       neg_quo = -$signed({1'b0, quo});
    assign q = neg ? neg_quo[ACT-1:0] : quo[ACT-1:0];
endmodule
