// One lane of the standalone add (cgap_add_tile): both inputs aligned by run-time shifts (two two-way
// shifters into wide_t), summed in acc_t, requantised (round-shift, saturate, ReLU).  The bank reads are
// separate mux_lane instances.
module add_lane #(parameter ACC = 48, parameter ACT = 16) (
    input  signed [ACT-1:0]  va,
    input  signed [ACT-1:0]  vb,
    input  signed [31:0]     in_shift,
    input  signed [31:0]     res_shift,
    input  signed [31:0]     out_shift,
    input                    relu,
    output [ACT-1:0]         q
);
    wire signed [ACC+1:0] xa, xb;
    shift_round #(.W(ACC + 2)) sa (.x({{(ACC + 2 - ACT){va[ACT-1]}}, va}), .s(-in_shift), .y(xa));
    shift_round #(.W(ACC + 2)) sb (.x({{(ACC + 2 - ACT){vb[ACT-1]}}, vb}), .s(-res_shift), .y(xb));
    wire signed [ACC-1:0] s = xa[ACC-1:0] + xb[ACC-1:0];
    requant #(.ACC(ACC), .ACT(ACT)) rq (.acc(s), .shift(out_shift), .relu(relu), .q(q));
endmodule
