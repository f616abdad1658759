// cgap_requant (hls_templates/cgap_fixed.h): round-shift an ACC-bit accumulator (wide_t = ACC+2 bits) by a
// run-time shift, saturate to ACT bits, optional ReLU.
module requant #(parameter ACC = 48, parameter ACT = 16) (
    input  signed [ACC-1:0]  acc,
    input  signed [31:0]     shift,
    input                    relu,
    output reg [ACT-1:0]     q
);
    localparam signed [ACC+1:0] MAX = (1 <<< (ACT - 1)) - 1;
    localparam signed [ACC+1:0] MIN = -(1 <<< (ACT - 1));
    wire signed [ACC+1:0] y;
    shift_round #(.W(ACC + 2)) sr (.x({{2{acc[ACC-1]}}, acc}), .s(shift), .y(y));
    always @* begin
        if (y > MAX) q = MAX[ACT-1:0];
        else if (relu && y < 0) q = {ACT{1'b0}};
        else if (y < MIN) q = MIN[ACT-1:0];
        else q = y[ACT-1:0];
    end
endmodule
