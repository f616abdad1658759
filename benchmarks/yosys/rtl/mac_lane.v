// One MAC of the Pox x Poy x Pof array (cgap_conv_compute, MAC_F/MAC_Y/MAC_X and HOLD_*): the first step of a
// block starts from the bias, later ones from the accumulator; at a block boundary the accumulator is copied
// to the held (shadow) register the write-out drains.  The multiplier and, where it fits, the accumulator
// belong in a DSP slice; what synthesis leaves in the fabric is this lane's soft part.
module mac_lane #(parameter A = 16, parameter B = 16, parameter ACC = 48) (
    input                     clk,
    input  signed [A-1:0]     a,
    input  signed [B-1:0]     w,
    input  signed [ACC-1:0]   bias,
    input                     first,
    input                     hold,
    output reg signed [ACC-1:0] held
);
    reg signed [ACC-1:0] acc;
    always @(posedge clk) begin
        acc <= (first ? bias : acc) + a * w;
        if (hold) held <= acc;
    end
endmodule
