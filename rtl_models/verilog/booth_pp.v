`timescale 1ns/1ps
// Radix-4 Booth partial products of a * b, as words for a carry-save tree: the OPT1 PEs'
// multiplier (booth_csa_pe.v, output-stationary; ws_csa_pe.v, weight-stationary). Purely
// combinational; the PE adds the 5 words, together with its (sum, carry) pair, in csa_tree7.
//
// Booth digit j of a (bits a[2j+1], a[2j], a[2j-1], with a[-1] = 0) is -2*a[2j+1] + a[2j] +
// a[2j-1] in {-2..2}, decoded as neg (digits -2, -1; a -0 counts as 0), one (|d| = 1) and two
// (|d| = 2). Word j (bits [j*ACC_W +: ACC_W] of pp_flat) is |d| * b sign-extended to ACC_W bits,
// complemented when the digit is negative, and shifted left by 2j. Since -(x << 2j) =
// (~x << 2j) + 2^(2j), each negative digit owes a +1 at bit 2j: corr holds those +1s (bit 2j =
// neg of digit j, every other bit 0). So
//     a * b = pp_0 + pp_1 + pp_2 + pp_3 + corr   (mod 2^ACC_W)
// exactly, for signed A_W-bit a and B_W-bit b. A_W must be 8 (4 digits, the words csa_tree7 is
// built for); ACC_W must exceed both B_W and 8. sim/carry_save.py (booth_partial_products) builds
// the same words in the same order.
module booth_pp #(
    parameter A_W   = 8,
    parameter B_W   = 8,
    parameter ACC_W = 32
) (
    input  [A_W-1:0]     a,        // the Booth-recoded operand
    input  [B_W-1:0]     b,        // the selected operand
    output [4*ACC_W-1:0] pp_flat,  // word j: the selection of digit j, << 2j
    output [ACC_W-1:0]   corr      // bit 2j: digit j is negative
);
    localparam ND = 4;                                 // radix-4 digits of an 8-bit a
    wire [A_W:0]     a_pad = {a, 1'b0};                // a[-1] = 0 below bit 0
    wire [ACC_W-1:0] b_ext = {{(ACC_W-B_W){b[B_W-1]}}, b};
    wire [ACC_W-1:0] b_ext2 = {b_ext[ACC_W-2:0], 1'b0};

    genvar j;
    generate
        for (j = 0; j < ND; j = j + 1) begin : g_pp
            wire hi  = a_pad[2*j+2];
            wire mid = a_pad[2*j+1];
            wire lo  = a_pad[2*j];
            wire neg = hi & ~(mid & lo);                       // digits -2, -1 (and not -0)
            wire one = mid ^ lo;                               // |d| = 1
            wire two = (hi & ~mid & ~lo) | (~hi & mid & lo);   // |d| = 2
            wire [ACC_W-1:0] mag = one ? b_ext : (two ? b_ext2 : {ACC_W{1'b0}});
            wire [ACC_W-1:0] sel = neg ? ~mag : mag;
            assign pp_flat[j*ACC_W +: ACC_W] = sel << (2*j);
            assign corr[2*j]     = neg;
            assign corr[2*j + 1] = 1'b0;
        end
    endgenerate
    assign corr[ACC_W-1:2*ND] = {(ACC_W-2*ND){1'b0}};
endmodule
