`timescale 1ns/1ps
// Weight-stationary multiply-accumulate processing element.
//
// The PE holds one weight. While w_load is high the weights shift down the column one PE per
// cycle (w_in from the PE above, w_out to the PE below). Otherwise the activation passing
// through is multiplied by the held weight and added to the partial sum arriving from the PE
// above; the activation hops one PE right through a register.
//
// REG_PSUM = 1: the partial sum is registered and passed down (every row but the last).
// REG_PSUM = 0: psum_out is the combinational sum; the array uses this for its bottom row,
// whose sums go straight into the output buffer, so the buffer write is that row's register.
//
// Exact signed arithmetic: an A_W x B_W two's-complement product, sign-extended and added
// modulo 2^ACC_W. The registers (weight, activation, partial sum) are ws_pe_regs, below, which
// the OPT1 weight-stationary PE (ws_csa_pe.v) shares.
module ws_mac_pe #(
    parameter A_W      = 8,
    parameter B_W      = 8,
    parameter ACC_W    = 32,
    parameter REG_PSUM = 1
) (
    input                  clk,
    input                  rst,
    input                  w_load,
    input      [B_W-1:0]   w_in,
    output     [B_W-1:0]   w_out,
    input      [A_W-1:0]   a_in,
    output     [A_W-1:0]   a_out,
    input      [ACC_W-1:0] psum_in,
    output     [ACC_W-1:0] psum_out
);
    wire signed [A_W+B_W-1:0] prod = $signed(a_in) * $signed(w_out);
    wire        [ACC_W-1:0]   prod_ext;
    wire        [ACC_W-1:0]   sum = psum_in + prod_ext;

    generate
        if (ACC_W > A_W + B_W) begin : g_ext
            assign prod_ext = {{(ACC_W - A_W - B_W){prod[A_W+B_W-1]}}, prod};
        end else begin : g_noext
            assign prod_ext = prod[ACC_W-1:0];
        end
    endgenerate

    ws_pe_regs #(.A_W(A_W), .B_W(B_W), .PSUM_W(ACC_W), .REG_PSUM(REG_PSUM)) u_regs (
        .clk(clk), .rst(rst), .w_load(w_load), .w_in(w_in), .w_out(w_out), .a_in(a_in), .a_out(a_out),
        .psum_in(sum), .psum_out(psum_out));
endmodule

// The registers of a weight-stationary PE (ws_mac_pe above, ws_csa_pe.v): the stationary weight
// (loads w_in while w_load is high, so weights shift down the column), the activation passing
// right (a_out = a_in one cycle later), and the PE's new partial sum, PSUM_W bits (ws_csa_pe
// passes its (sum, carry) pair as one 2*ACC_W word): registered when REG_PSUM != 0, passed
// through combinationally otherwise. Synchronous reset clears every register.
module ws_pe_regs #(
    parameter A_W      = 8,
    parameter B_W      = 8,
    parameter PSUM_W   = 32,
    parameter REG_PSUM = 1
) (
    input                   clk,
    input                   rst,
    input                   w_load,
    input      [B_W-1:0]    w_in,
    output reg [B_W-1:0]    w_out,
    input      [A_W-1:0]    a_in,
    output reg [A_W-1:0]    a_out,
    input      [PSUM_W-1:0] psum_in,
    output     [PSUM_W-1:0] psum_out
);
    always @(posedge clk) begin
        if (rst) begin
            w_out <= {B_W{1'b0}};
            a_out <= {A_W{1'b0}};
        end else begin
            if (w_load)
                w_out <= w_in;
            a_out <= a_in;
        end
    end

    generate
        if (REG_PSUM != 0) begin : g_reg
            reg [PSUM_W-1:0] psum_q;
            always @(posedge clk) begin
                if (rst)
                    psum_q <= {PSUM_W{1'b0}};
                else
                    psum_q <= psum_in;
            end
            assign psum_out = psum_q;
        end else begin : g_comb
            assign psum_out = psum_in;
        end
    endgenerate
endmodule
