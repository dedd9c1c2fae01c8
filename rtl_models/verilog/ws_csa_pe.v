`timescale 1ns/1ps
// Weight-stationary PE with the TPE paper's OPT1 arithmetic: the partial sum travels down the
// column as a (sum, carry) pair. Each cycle the 4 radix-4 Booth partial products of a * w (a is
// the 8-bit activation passing through, w the stationary weight), their correction word and the
// pair from the PE above go through one 7-input carry-save tree (csa_tree7, rtl_models/csa_gen.py);
// no carry propagates in the PE. The array adds sum + carry once, below the bottom row.
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
    output reg [B_W-1:0]   w_out,
    input      [A_W-1:0]   a_in,
    output reg [A_W-1:0]   a_out,
    input      [ACC_W-1:0] sum_in,
    input      [ACC_W-1:0] carry_in,
    output     [ACC_W-1:0] sum_out,
    output     [ACC_W-1:0] carry_out
);
    localparam ND = 4;
    wire [A_W:0]       a_pad  = {a_in, 1'b0};
    wire [ACC_W-1:0]   w_ext  = {{(ACC_W-B_W){w_out[B_W-1]}}, w_out};
    wire [ACC_W-1:0]   w_ext2 = {w_ext[ACC_W-2:0], 1'b0};
    wire [7*ACC_W-1:0] tree_in;
    wire [ACC_W-1:0]   corr;
    wire [ACC_W-1:0]   tree_sum, tree_carry;

    genvar j;
    generate
        for (j = 0; j < ND; j = j + 1) begin : g_pp
            wire hi  = a_pad[2*j+2];
            wire mid = a_pad[2*j+1];
            wire lo  = a_pad[2*j];
            wire neg = hi & ~(mid & lo);
            wire one = mid ^ lo;
            wire two = (hi & ~mid & ~lo) | (~hi & mid & lo);
            wire [ACC_W-1:0] mag = one ? w_ext : (two ? w_ext2 : {ACC_W{1'b0}});
            wire [ACC_W-1:0] sel = neg ? ~mag : mag;
            assign tree_in[j*ACC_W +: ACC_W] = sel << (2*j);
            assign corr[2*j]     = neg;
            assign corr[2*j + 1] = 1'b0;
        end
    endgenerate
    assign corr[ACC_W-1:2*ND] = {(ACC_W-2*ND){1'b0}};
    assign tree_in[4*ACC_W +: ACC_W] = corr;
    assign tree_in[5*ACC_W +: ACC_W] = sum_in;
    assign tree_in[6*ACC_W +: ACC_W] = carry_in;

    csa_tree7 #(.W(ACC_W)) u_tree (.in_flat(tree_in), .sum(tree_sum), .carry(tree_carry));

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
            reg [ACC_W-1:0] s_q, c_q;
            always @(posedge clk) begin
                if (rst) begin
                    s_q <= {ACC_W{1'b0}};
                    c_q <= {ACC_W{1'b0}};
                end else begin
                    s_q <= tree_sum;
                    c_q <= tree_carry;
                end
            end
            assign sum_out   = s_q;
            assign carry_out = c_q;
        end else begin : g_comb
            assign sum_out   = tree_sum;
            assign carry_out = tree_carry;
        end
    endgenerate
endmodule
