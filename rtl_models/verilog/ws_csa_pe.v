`timescale 1ns/1ps
// Weight-stationary PE with the TPE paper's OPT1 arithmetic: the partial sum travels down the
// column as a (sum, carry) pair. Each cycle the 4 radix-4 Booth partial products of a * w (a is
// the 8-bit activation passing through, w the stationary weight) and their correction word
// (booth_pp.v, shared with booth_csa_pe) and the pair from the PE above go through one 7-input
// carry-save tree (csa_tree7, rtl_models/csa_gen.py); no carry propagates in the PE. The array
// adds sum + carry once, below the bottom row. The weight, activation and pair registers are
// ws_pe_regs (ws_mac_pe.v), the pair passed as one word {carry, sum}.
// sim/systolic.py (pe="booth_csa", dataflow="ws") steps the same words.
module ws_csa_pe #(
    parameter A_W      = 8,   // must be 8: 4 radix-4 Booth digits
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
    input      [ACC_W-1:0] sum_in,
    input      [ACC_W-1:0] carry_in,
    output     [ACC_W-1:0] sum_out,
    output     [ACC_W-1:0] carry_out
);
    wire [4*ACC_W-1:0] pp;       // the Booth partial products of a_in * w_out, word j << 2j
    wire [ACC_W-1:0]   corr;     // their negation corrections
    wire [ACC_W-1:0]   tree_sum, tree_carry;

    booth_pp #(.A_W(A_W), .B_W(B_W), .ACC_W(ACC_W)) u_pp (.a(a_in), .b(w_out), .pp_flat(pp), .corr(corr));
    wire [7*ACC_W-1:0] tree_in = {carry_in, sum_in, corr, pp};   // word 0 is pp's word 0

    csa_tree7 #(.W(ACC_W)) u_tree (.in_flat(tree_in), .sum(tree_sum), .carry(tree_carry));

    ws_pe_regs #(.A_W(A_W), .B_W(B_W), .PSUM_W(2*ACC_W), .REG_PSUM(REG_PSUM)) u_regs (
        .clk(clk), .rst(rst), .w_load(w_load), .w_in(w_in), .w_out(w_out), .a_in(a_in), .a_out(a_out),
        .psum_in({tree_carry, tree_sum}), .psum_out({carry_out, sum_out}));
endmodule
