`timescale 1ns/1ps
// Balanced adder tree shared by the bit-serial baseline PEs (stripes_pe.v, laconic_pe.v,
// bitfusion_pe.v): N terms of W bits summed in ceil(log2 N) levels, by recursive instantiation
// (two subtrees of ceil(N/2) and floor(N/2) terms and one adder; separate nets per level, so
// no circular logic for Verilator), the sum sign-extended (or truncated) to OUT_W.
// Arithmetic is modulo 2^W: the caller sizes W so that the true sum fits.

module bitserial_add_tree #(
    parameter N     = 4,
    parameter W     = 16,
    parameter OUT_W = 32
) (
    input  [N*W-1:0]   terms,   // term i at [i*W +: W]
    output [OUT_W-1:0] sum
);
    wire [W-1:0] root;
    generate
        if (N == 1) begin : g_leaf
            assign root = terms;
        end else begin : g_split
            localparam NL = (N + 1) / 2;
            localparam NR = N - NL;
            wire [W-1:0] sum_l, sum_r;
            bitserial_add_tree #(.N(NL), .W(W), .OUT_W(W)) u_l (.terms(terms[NL*W-1:0]), .sum(sum_l));
            bitserial_add_tree #(.N(NR), .W(W), .OUT_W(W)) u_r (.terms(terms[N*W-1:NL*W]), .sum(sum_r));
            assign root = sum_l + sum_r;
        end
        if (OUT_W > W) begin : g_ext
            assign sum = {{(OUT_W-W){root[W-1]}}, root};
        end else begin : g_trunc
            assign sum = root[OUT_W-1:0];
        end
    endgenerate
endmodule
