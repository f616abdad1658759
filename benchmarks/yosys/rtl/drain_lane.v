// One of the Pof requantisers of the conv write-out (cgap_conv_compute, DRAIN_F): the held accumulator plus
// the residual word aligned by a run-time shift (cgap_align = a two-way shift into wide_t, truncated to acc_t),
// then cgap_requant.  The held-register and residual-bank selects are separate mux_lane instances.
module drain_lane #(parameter ACC = 48, parameter ACT = 16) (
    input  signed [ACC-1:0]  held,
    input  signed [ACT-1:0]  res,
    input                    has_res,
    input  signed [31:0]     res_shift,
    input  signed [31:0]     out_shift,
    input                    relu,
    output [ACT-1:0]         q
);
    wire signed [ACC+1:0] aligned;
    shift_round #(.W(ACC + 2)) al (.x({{(ACC + 2 - ACT){res[ACT-1]}}, res}), .s(-res_shift), .y(aligned));
    wire signed [ACC-1:0] a = held + (has_res ? aligned[ACC-1:0] : {ACC{1'b0}});
    requant #(.ACC(ACC), .ACT(ACT)) rq (.acc(a), .shift(out_shift), .relu(relu), .q(q));
endmodule
