// A MAC multiplier built from logic (resources.estimate soft_macs): signed A x B product, synthesised with
// -nodsp so no DSP slice is used.
module mul_soft #(parameter A = 16, parameter B = 16) (
    input  signed [A-1:0]    a,
    input  signed [B-1:0]    b,
    output signed [A+B-1:0]  p
);
    assign p = a * b;
endmodule
