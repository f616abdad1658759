// The soft part of a MAC whose accumulator cannot stay in the DSP slice (two 8-bit MACs packed in one
// DSP48E2 sharing the activation, WP486; Intel variable-precision DSPs used as two 18x19 multipliers): the
// P-bit product arrives from the DSP, the bias select, accumulator and held copy are fabric.
module mac_acc_lane #(parameter P = 16, parameter ACC = 32) (
    input                     clk,
    input  signed [P-1:0]     p,
    input  signed [ACC-1:0]   bias,
    input                     first,
    input                     hold,
    output reg signed [ACC-1:0] held
);
    reg signed [ACC-1:0] acc;
    always @(posedge clk) begin
        acc <= (first ? bias : acc) + p;
        if (hold) held <= acc;
    end
endmodule
