`timescale 1ns/1ps
// Systolic input skew: lane i of LANES comes out delayed by i clock cycles.
//
// It sits between an operand buffer (which presents one whole k-slice or activation row per
// cycle) and an edge of the array, so that row i (or column j) receives its element i (j)
// cycles later than lane 0: the diagonal wavefront every systolic array needs.
module skew_delay #(
    parameter LANES = 4,
    parameter W     = 8
) (
    input                  clk,
    input                  rst,
    input  [LANES*W-1:0]   din,
    output [LANES*W-1:0]   dout
);
    genvar i;
    generate
        for (i = 0; i < LANES; i = i + 1) begin : g_lane
            if (i == 0) begin : g_pass
                assign dout[W-1:0] = din[W-1:0];
            end else if (i == 1) begin : g_one
                reg [W-1:0] sr;
                always @(posedge clk) begin
                    if (rst) sr <= {W{1'b0}};
                    else     sr <= din[W-1+W*i -: W];
                end
                assign dout[W-1+W*i -: W] = sr;
            end else begin : g_chain
                // sr holds the last i inputs, newest in the low W bits
                reg [W*i-1:0] sr;
                always @(posedge clk) begin
                    if (rst) sr <= {(W*i){1'b0}};
                    else     sr <= {sr[W*(i-1)-1:0], din[W-1+W*i -: W]};
                end
                assign dout[W-1+W*i -: W] = sr[W*i-1 -: W];
            end
        end
    endgenerate
endmodule
