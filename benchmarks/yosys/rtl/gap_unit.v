// The GAP accumulator (cgap_gap_tile, G_LANES: L = V words a beat; the first engine had Pof of them over
// L = Poy*Pox): sum += every masked word per II=1 iteration, in acc_t.  The bank reads are separate mux_lanes.
module gap_unit #(parameter L = 16, parameter ACC = 48, parameter ACT = 16) (
    input                       clk,
    input                       clear,
    input  [L*ACT-1:0]          v,
    input  [L-1:0]              mask,
    output reg signed [ACC-1:0] sum
);
    integer i;
    reg signed [ACC-1:0] next;
    always @* begin
        next = sum;
        for (i = 0; i < L; i = i + 1)
            if (mask[i]) next = next + $signed(v[i*ACT +: ACT]);
    end
    always @(posedge clk) sum <= clear ? {ACC{1'b0}} : next;
endmodule
