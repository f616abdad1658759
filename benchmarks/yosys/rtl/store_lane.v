// One of the V lanes of the conv store with a fused pool (cgap_conv_store, ST_LANES): maximum and sum
// registers over the pool window (w == 0 restarts them) and the word chosen for the beat (average from the
// lane's div_recip, maximum, or zero past the row end).  The obuf read and the divider are separate blocks.
module store_lane #(parameter ACC = 48, parameter ACT = 16) (
    input                       clk,
    input                       start,
    input                       valid,
    input                       avg_mode,
    input  signed [ACT-1:0]     v,
    input  [ACT-1:0]            avg,
    output reg signed [ACT-1:0] best,
    output reg signed [ACC-1:0] sum,
    output [ACT-1:0]            word
);
    wire signed [ACT-1:0] nbest = (start || v > best) ? v : best;
    always @(posedge clk) begin
        best <= nbest;
        sum <= (start ? {ACC{1'b0}} : sum) + v;
    end
    assign word = !valid ? {ACT{1'b0}} : avg_mode ? avg : nbest;
endmodule
