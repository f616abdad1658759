// One lane of the standalone pool (cgap_pool_tile, P_LANES: V of them; the first engine had Pof x Poy x Pox):
// running sum (acc_t), maximum (act_t) and count (a C int, 32 bits) of the window values the lane's mask lets
// through; restarted per output beat.  The bank read is a separate mux_lane, the divider a div_recip; the
// lane's in-bounds mask is an input.
module pool_lane #(parameter ACC = 48, parameter ACT = 16) (
    input                       clk,
    input                       clear,
    input                       en,
    input  signed [ACT-1:0]     v,
    output reg signed [ACC-1:0] sum,
    output reg signed [ACT-1:0] best,
    output reg [31:0]           count
);
    localparam signed [ACT-1:0] MIN = {1'b1, {(ACT - 1){1'b0}}};
    always @(posedge clk) begin
        if (clear) begin
            sum <= 0;
            best <= MIN;
            count <= 0;
        end else if (en) begin
            sum <= sum + v;
            if (v > best) best <= v;
            count <= count + 1;
        end
    end
endmodule
