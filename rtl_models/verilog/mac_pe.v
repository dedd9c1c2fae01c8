`timescale 1ns/1ps
// Output-stationary multiply-accumulate processing element (the baseline PE).
//
// Every clock the PE multiplies the operand pair passing through it, adds the product to its
// own accumulator, and forwards the operands one PE right (a) and one PE down (b) through
// registers: the systolic hop. In drain mode the accumulator instead loads acc_in, the value of
// the PE above, so a column of PEs shifts its results down one row per cycle; row 0 loads zero,
// which leaves every accumulator cleared when the drain ends, ready for the next fold.
//
// Exact signed arithmetic: an A_W x B_W two's-complement product, sign-extended and added
// modulo 2^ACC_W.
module mac_pe #(
    parameter A_W   = 8,
    parameter B_W   = 8,
    parameter ACC_W = 32
) (
    input                  clk,
    input                  rst,
    input                  drain,
    input      [A_W-1:0]   a_in,
    input      [B_W-1:0]   b_in,
    input      [ACC_W-1:0] acc_in,
    output reg [A_W-1:0]   a_out,
    output reg [B_W-1:0]   b_out,
    output reg [ACC_W-1:0] acc_out
);
    wire signed [A_W+B_W-1:0] prod = $signed(a_in) * $signed(b_in);
    wire        [ACC_W-1:0]   prod_ext;

    // sign-extend the product to the accumulator width (no zero-width replication when equal)
    generate
        if (ACC_W > A_W + B_W) begin : g_ext
            assign prod_ext = {{(ACC_W - A_W - B_W){prod[A_W+B_W-1]}}, prod};
        end else begin : g_noext
            assign prod_ext = prod[ACC_W-1:0];
        end
    endgenerate

    always @(posedge clk) begin
        if (rst) begin
            a_out   <= {A_W{1'b0}};
            b_out   <= {B_W{1'b0}};
            acc_out <= {ACC_W{1'b0}};
        end else begin
            a_out   <= a_in;
            b_out   <= b_in;
            acc_out <= drain ? acc_in : acc_out + prod_ext;
        end
    end
endmodule
