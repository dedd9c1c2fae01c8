`timescale 1ns/1ps
// Multiplier-adder tree engine and 3D-cube (sim/adder_tree.py is their cycle model).
//
// A K x N tile of B sits in registers, written one row per clock (b_we, b_row_idx, b_row). Each
// clock with a_valid, ROWS rows of A (K int8 values each) and their N partial sums each are
// registered; on the next clock every unit (r, n) registers y[r][n] = psum[r][n] + sum_k a_{r,k}
// b_{k,n} and y_valid rises. ROWS = 1: the multiplier-adder tree; ROWS = K = N: the 3D-cube.
// Row r of a_vec is at bits [r*K*A_W +: K*A_W]; output (r, n) of psum_in / y_vec at
// [(r*N + n)*ACC_W +: ACC_W].
//
// PE_KIND 0: K multipliers per column and a balanced adder tree (add_tree) over the products.
// PE_KIND 1: the TPE paper's OPT2, same-bit-weight compression: the row is recoded once into
//   radix-4 Booth digits (registered, shared by every column); per column and digit position j a
//   narrow tree adds the K selections +-b / +-2b (a negative one as the complement of |d| b, plus
//   the count of negative digits as one more leaf), and y = psum + S0 + 4 S1 + 16 S2 + 64 S3.
module tree_gemm #(
    parameter K       = 16,
    parameter N       = 4,
    parameter A_W     = 8,   // must be 8 for PE_KIND 1 (4 radix-4 digits)
    parameter B_W     = 8,
    parameter ACC_W   = 32,
    parameter PE_KIND = 0,
    parameter IDX_W   = 8,   // width of b_row_idx (K <= 2^IDX_W)
    parameter ROWS    = 1
) (
    input                    clk,
    input                    rst,
    input                    b_we,
    input  [IDX_W-1:0]       b_row_idx,
    input  [N*B_W-1:0]       b_row,
    input                    a_valid,
    input  [ROWS*K*A_W-1:0]  a_vec,
    input  [ROWS*N*ACC_W-1:0] psum_in,
    output reg               y_valid,
    output reg [ROWS*N*ACC_W-1:0] y_vec
);
    localparam P_W = A_W + B_W;   // one product
    localparam S_W = B_W + 2;     // one digit selection: +-2b

    reg [K*N*B_W-1:0] b_tile;     // b_{k,n} at bits [(k*N + n)*B_W +: B_W]
    reg               v_r;
    reg [ROWS*N*ACC_W-1:0] psum_r;

    integer i;
    always @(posedge clk) begin
        if (rst) begin
            b_tile <= {K*N*B_W{1'b0}};
        end else if (b_we) begin
            for (i = 0; i < N; i = i + 1)
                b_tile[(b_row_idx*N + i)*B_W +: B_W] <= b_row[i*B_W +: B_W];
        end
    end

    always @(posedge clk) begin
        if (rst) begin
            v_r     <= 1'b0;
            psum_r  <= {ROWS*N*ACC_W{1'b0}};
            y_valid <= 1'b0;
        end else begin
            v_r     <= a_valid;
            psum_r  <= psum_in;
            y_valid <= v_r;
        end
    end

    wire [ROWS*N*ACC_W-1:0] y_next;
    genvar r, n, k, j;
    generate
        for (r = 0; r < ROWS; r = r + 1) begin : row
        if (PE_KIND == 0) begin : g_mult
            reg [K*A_W-1:0] a_r;
            always @(posedge clk) begin
                if (rst) a_r <= {K*A_W{1'b0}};
                else     a_r <= a_vec[r*K*A_W +: K*A_W];
            end
            for (n = 0; n < N; n = n + 1) begin : col
                wire [K*P_W-1:0] prods;
                for (k = 0; k < K; k = k + 1) begin : mul
                    wire signed [A_W-1:0] av = a_r[k*A_W +: A_W];
                    wire signed [B_W-1:0] bv = b_tile[(k*N + n)*B_W +: B_W];
                    wire signed [P_W-1:0] p = av * bv;
                    assign prods[k*P_W +: P_W] = p;
                end
                wire [ACC_W-1:0] dot;
                add_tree #(.L(K), .W(P_W), .OUT_W(ACC_W)) u_tree (.in_flat(prods), .sum(dot));
                assign y_next[(r*N + n)*ACC_W +: ACC_W] = psum_r[(r*N + n)*ACC_W +: ACC_W] + dot;
            end
        end else begin : g_sbw
            // digit k, position j: {neg, one, two} at bits [(k*4 + j)*3 +: 3]
            reg [K*4*3-1:0] d_r;
            wire [K*4*3-1:0] d_next;
            for (k = 0; k < K; k = k + 1) begin : enc
                wire [A_W:0] a_pad = {a_vec[(r*K + k)*A_W +: A_W], 1'b0};
                for (j = 0; j < 4; j = j + 1) begin : pos
                    wire hi  = a_pad[2*j+2];
                    wire mid = a_pad[2*j+1];
                    wire lo  = a_pad[2*j];
                    assign d_next[(k*4 + j)*3 + 2] = hi & ~(mid & lo);                      // neg
                    assign d_next[(k*4 + j)*3 + 1] = mid ^ lo;                               // |d| = 1
                    assign d_next[(k*4 + j)*3 + 0] = (hi & ~mid & ~lo) | (~hi & mid & lo);   // |d| = 2
                end
            end
            always @(posedge clk) begin
                if (rst) d_r <= {K*4*3{1'b0}};
                else     d_r <= d_next;
            end
            for (n = 0; n < N; n = n + 1) begin : col
                wire [4*ACC_W-1:0] s_pos;   // S_j sign-extended to ACC_W
                for (j = 0; j < 4; j = j + 1) begin : pos
                    wire [(K+1)*S_W-1:0] sel;
                    wire [K-1:0]         negs;
                    for (k = 0; k < K; k = k + 1) begin : term
                        wire [B_W-1:0] bk = b_tile[(k*N + n)*B_W +: B_W];
                        wire [S_W-1:0] b1 = {{2{bk[B_W-1]}}, bk};
                        wire [S_W-1:0] b2 = {b1[S_W-2:0], 1'b0};
                        wire neg = d_r[(k*4 + j)*3 + 2];
                        wire one = d_r[(k*4 + j)*3 + 1];
                        wire two = d_r[(k*4 + j)*3 + 0];
                        wire [S_W-1:0] mag = one ? b1 : (two ? b2 : {S_W{1'b0}});
                        assign sel[k*S_W +: S_W] = neg ? ~mag : mag;
                        assign negs[k] = neg;
                    end
                    // the correction leaf: how many terms were complemented (each needs +1)
                    wire [S_W-1:0] ncount;
                    popcount #(.L(K), .W(S_W)) u_cnt (.in(negs), .count(ncount));
                    assign sel[K*S_W +: S_W] = ncount;
                    wire [ACC_W-1:0] s_j;
                    add_tree #(.L(K + 1), .W(S_W), .OUT_W(ACC_W)) u_tree (.in_flat(sel), .sum(s_j));
                    assign s_pos[j*ACC_W +: ACC_W] = s_j;
                end
                assign y_next[(r*N + n)*ACC_W +: ACC_W] = psum_r[(r*N + n)*ACC_W +: ACC_W]
                    + s_pos[0*ACC_W +: ACC_W] + (s_pos[1*ACC_W +: ACC_W] << 2)
                    + (s_pos[2*ACC_W +: ACC_W] << 4) + (s_pos[3*ACC_W +: ACC_W] << 6);
            end
        end
        end
    endgenerate

    always @(posedge clk) begin
        if (rst) y_vec <= {ROWS*N*ACC_W{1'b0}};
        else if (v_r) y_vec <= y_next;
    end
endmodule

// Balanced adder tree over L signed W-bit leaves (zero leaves pad L to a power of two); each
// level is one bit wider than the one below; the root is sign-extended (or cut) to OUT_W bits.
module add_tree #(
    parameter L     = 16,
    parameter W     = 16,
    parameter OUT_W = 32
) (
    input  [L*W-1:0]   in_flat,
    output [OUT_W-1:0] sum
);
    // ceil(log2 L) for L <= 1024 (a conditional chain: pyverilog reads no constant functions)
    localparam LOG = (L <= 1) ? 0 : (L <= 2) ? 1 : (L <= 4) ? 2 : (L <= 8) ? 3 : (L <= 16) ? 4 :
                     (L <= 32) ? 5 : (L <= 64) ? 6 : (L <= 128) ? 7 : (L <= 256) ? 8 : (L <= 512) ? 9 : 10;
    localparam LP  = 1 << LOG;

    genvar l, i;
    generate
        for (l = 0; l <= LOG; l = l + 1) begin : lvl
            wire [(LP >> l)*(W + l)-1:0] v;
            if (l == 0) begin : leaves
                for (i = 0; i < LP; i = i + 1) begin : leaf
                    if (i < L) begin : real_leaf
                        assign v[i*W +: W] = in_flat[i*W +: W];
                    end else begin : pad_leaf
                        assign v[i*W +: W] = {W{1'b0}};
                    end
                end
            end else begin : adders
                for (i = 0; i < (LP >> l); i = i + 1) begin : node
                    wire signed [W+l-2:0] x = lvl[l-1].v[(2*i)*(W+l-1) +: (W+l-1)];
                    wire signed [W+l-2:0] y = lvl[l-1].v[(2*i+1)*(W+l-1) +: (W+l-1)];
                    wire signed [W+l-1:0] s = {x[W+l-2], x} + {y[W+l-2], y};
                    assign v[i*(W+l) +: (W+l)] = s;
                end
            end
        end
    endgenerate
    wire signed [W+LOG-1:0] root = lvl[LOG].v;
    assign sum = {{(OUT_W-W-LOG){root[W+LOG-1]}}, root};   // needs OUT_W > W + LOG
endmodule

// Number of ones among L bits, as a W-bit unsigned value.
module popcount #(
    parameter L = 16,
    parameter W = 10
) (
    input  [L-1:0] in,
    output [W-1:0] count
);
    integer i;
    reg [W-1:0] c;
    always @(*) begin
        c = {W{1'b0}};
        for (i = 0; i < L; i = i + 1)
            c = c + {{(W-1){1'b0}}, in[i]};
    end
    assign count = c;
endmodule
