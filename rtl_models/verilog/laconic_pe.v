`timescale 1ns/1ps
// Laconic-style term-serial dot-product PE (Sharify et al., ISCA 2019; sim/bitserial.py).
//
// Modules:
//   booth_term_enc  a W-bit two's-complement operand -> ceil(W/2) modified-Booth radix-4 digits as
//                   (nz, neg, two) flags; every non-zero digit j is one term +-2^(2j + two).
//   laconic_lane    one lane: walks the term pairs of its (a, w) a-term-major, lowest first, one
//                   pair per cycle, and emits +-2^(ea + ew); says whether it has pairs left.
//   laconic_pe      LANES lanes in lock step plus the adder tree and accumulator: a group ends
//                   on the cycle after which no lane has a pair left (an all-zero group takes
//                   one idle cycle). `fin` writes result = acc.
//   laconic_dot     the co-simulation top: dot_host (dot_host.v: operand buffers, start/done,
//                   the group walk) and the PE.
//
// Cycles from the start edge to done, both counted (sim/bitserial.py, dot_cycles):
//   1 (start) + sum_g max(1, max_lanes n_a * n_w) + 1 (fin)

module booth_term_enc #(
    parameter W = 8
) (
    input  [W-1:0]       x,
    output [(W+1)/2-1:0] nz,
    output [(W+1)/2-1:0] neg,
    output [(W+1)/2-1:0] two
);
    localparam ND = (W + 1) / 2;
    // sign-extended to 2*ND bits, with x_{-1} = 0 below bit 0
    wire [2*ND-1:0] xs;
    generate
        if (2 * ND > W) begin : g_ext
            assign xs = {x[W-1], x};
        end else begin : g_even
            assign xs = x;
        end
    endgenerate
    wire [2*ND:0]   xe = {xs, 1'b0};
    genvar j;
    generate
        for (j = 0; j < ND; j = j + 1) begin : g_digit
            wire h = xe[2*j+2];
            wire l = xe[2*j+1];
            wire p = xe[2*j];
            assign nz[j]  = ~((h & l & p) | (~h & ~l & ~p));
            assign two[j] = (h & ~l & ~p) | (~h & l & p);
            assign neg[j] = h;
        end
    endgenerate
endmodule


module laconic_lane #(
    parameter A_W   = 8,
    parameter W_W   = 8,
    parameter TW    = 32     // term width (the adder tree's)
) (
    input                  clk,
    input                  rst,
    input                  clr,        // clear the pair walk (start edge, or a group's end)
    input                  run,
    input                  valid,      // the lane is inside K
    input      [A_W-1:0]   a,
    input      [W_W-1:0]   w,
    output reg [TW-1:0]    term,       // +-2^(ea+ew) this cycle, 0 if no pair
    output                 has_work,   // a pair is processed this cycle
    output                 more        // pairs remain after this cycle
);
    localparam NA = (A_W + 1) / 2;
    localparam NW = (W_W + 1) / 2;

    wire [NA-1:0] a_nz, a_neg, a_two;
    wire [NW-1:0] w_nz, w_neg, w_two;
    booth_term_enc #(.W(A_W)) u_ea (.x(a), .nz(a_nz), .neg(a_neg), .two(a_two));
    booth_term_enc #(.W(W_W)) u_ew (.x(w), .nz(w_nz), .neg(w_neg), .two(w_two));

    reg [NA-1:0] a_done;
    reg [NW-1:0] w_done;

    wire [NA-1:0] a_rem = a_nz & ~a_done & {NA{valid}};
    wire [NW-1:0] w_rem = w_nz & ~w_done;
    wire [NA-1:0] pa    = a_rem & (-a_rem);   // lowest remaining a term, one-hot
    wire [NW-1:0] pw    = w_rem & (-w_rem);   // lowest remaining w term, one-hot
    assign has_work = (a_rem != {NA{1'b0}}) & (w_nz != {NW{1'b0}});
    wire w_last = ((w_rem & ~pw) == {NW{1'b0}});
    assign more = has_work & (w_last ? ((a_rem & ~pa) != {NA{1'b0}}) : 1'b1);

    // exponent of the picked pair, ea + ew, and its sign
    integer e;
    integer j;
    reg     s;
    always @* begin
        e = 0;
        s = 1'b0;
        for (j = 0; j < NA; j = j + 1)
            if (pa[j]) begin
                e = e + 2 * j + (a_two[j] ? 1 : 0);
                s = s ^ a_neg[j];
            end
        for (j = 0; j < NW; j = j + 1)
            if (pw[j]) begin
                e = e + 2 * j + (w_two[j] ? 1 : 0);
                s = s ^ w_neg[j];
            end
        term = {TW{1'b0}};
        if (has_work) begin
            term = {{(TW-1){1'b0}}, 1'b1} << e;
            if (s)
                term = -term;
        end
    end

    always @(posedge clk) begin
        if (rst | clr) begin
            a_done <= {NA{1'b0}};
            w_done <= {NW{1'b0}};
        end else if (run & has_work) begin
            if (w_last) begin
                a_done <= a_done | pa;
                w_done <= {NW{1'b0}};
            end else begin
                w_done <= w_done | pw;
            end
        end
    end
endmodule


module laconic_pe #(
    parameter A_W   = 8,
    parameter W_W   = 8,
    parameter LANES = 16,
    parameter ACC_W = 32
) (
    input                      clk,
    input                      rst,
    input                      clr,          // start edge: clear the accumulator and the lanes
    input                      run,          // a compute cycle
    input                      fin,          // write result
    input      [LANES-1:0]     lane_valid,
    input      [LANES*A_W-1:0] a_grp,
    input      [LANES*W_W-1:0] w_grp,
    output                     group_last,   // this cycle ends the group
    output reg [ACC_W-1:0]     result
);
    // a term is +-2^e, e <= 2*NA + 2*NW - 2; LANES of them need 2*NA + 2*NW + clog2(LANES) bits
    localparam NA  = (A_W + 1) / 2;
    localparam NW  = (W_W + 1) / 2;
    localparam TW0 = 2 * NA + 2 * NW + $clog2(LANES) + 1;
    localparam TW  = (TW0 < ACC_W) ? TW0 : ACC_W;

    wire [LANES*TW-1:0] terms;
    wire [LANES-1:0]    more;
    genvar i;
    generate
        for (i = 0; i < LANES; i = i + 1) begin : g_lane
            wire hw;
            laconic_lane #(.A_W(A_W), .W_W(W_W), .TW(TW)) u_lane (
                .clk(clk), .rst(rst), .clr(clr | (run & group_last)), .run(run), .valid(lane_valid[i]),
                .a(a_grp[i*A_W +: A_W]), .w(w_grp[i*W_W +: W_W]), .term(terms[i*TW +: TW]),
                .has_work(hw), .more(more[i]));
        end
    endgenerate
    assign group_last = (more == {LANES{1'b0}});

    wire [ACC_W-1:0] tree;
    reg  [ACC_W-1:0] acc;
    bitserial_add_tree #(.N(LANES), .W(TW), .OUT_W(ACC_W)) u_tree (.terms(terms), .sum(tree));

    always @(posedge clk) begin
        if (rst | clr)
            acc <= {ACC_W{1'b0}};
        else if (run)
            acc <= acc + tree;
    end

    always @(posedge clk) begin
        if (rst)
            result <= {ACC_W{1'b0}};
        else if (fin)
            result <= acc;
    end
endmodule


module laconic_dot #(
    parameter A_W   = 8,
    parameter W_W   = 8,
    parameter LANES = 16,
    parameter ACC_W = 32,
    parameter DEPTH = 16    // operand buffer depth: a multiple of LANES, >= 4
) (
    input                          clk,
    input                          rst,
    input                          ld_en,
    input      [$clog2(DEPTH)-1:0] ld_addr,
    input      [A_W-1:0]           ld_a,
    input      [W_W-1:0]           ld_w,
    input                          start,
    input      [$clog2(DEPTH):0]   k_len,
    output                         busy,
    output                         done,
    output     [ACC_W-1:0]         result
);
    wire                 launch, run, fin, group_last;
    wire [LANES-1:0]     lane_valid;
    wire [LANES*A_W-1:0] a_grp;
    wire [LANES*W_W-1:0] w_grp;

    // groups of LANES elements, one step each, ended by the PE when no lane has a pair left
    dot_host #(.A_W(A_W), .B_W(W_W), .DEPTH(DEPTH), .GROUP(LANES), .MASK(1)) u_host (
        .clk(clk), .rst(rst), .ld_en(ld_en), .ld_addr(ld_addr), .ld_a(ld_a), .ld_b(ld_w), .start(start),
        .k_len(k_len), .busy(busy), .done(done), .step(group_last), .launch(launch), .run(run), .fin(fin),
        .pos(), .lane_valid(lane_valid), .a_grp(a_grp), .b_grp(w_grp));

    laconic_pe #(.A_W(A_W), .W_W(W_W), .LANES(LANES), .ACC_W(ACC_W)) u_pe (
        .clk(clk), .rst(rst), .clr(launch), .run(run), .fin(fin), .lane_valid(lane_valid),
        .a_grp(a_grp), .w_grp(w_grp), .group_last(group_last), .result(result));
endmodule
