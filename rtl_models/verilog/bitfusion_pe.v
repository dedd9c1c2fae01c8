`timescale 1ns/1ps
// Bit Fusion-style fusion unit of 16 BitBricks (Sharma et al., ISCA 2018; sim/bitserial.py).
//
// Modules:
//   bitbrick        a 2-bit x 2-bit multiplier on 3-bit signed operands: each 2-bit slice is
//                   sign-extended when its sign mode is set (the top slice of a signed operand),
//                   zero-extended otherwise.
//   bitfusion_unit  16 bricks fused for A_W x W_W in {2,4,8}: brick b serves product
//                   l = b / (SA*SW), slices i = (b % (SA*SW)) / SW, j = b % SW (SA = A_W/2,
//                   SW = W_W/2); its product is shifted by 2(i+j) and all are summed; PAIRS =
//                   16 / (SA*SW) products per cycle. `fin` writes result = acc.
//   bitfusion_dot   the co-simulation top: dot_host (dot_host.v: operand buffers, start/done,
//                   one group of PAIRS elements per cycle) and the fusion unit.
//
// Cycles from the start edge to done, both counted (sim/bitserial.py, dot_cycles):
//   1 (start) + ceil(K / PAIRS) + 1 (fin)

module bitbrick (
    input        [1:0] x,
    input        [1:0] y,
    input              sx,     // x is the signed top slice
    input              sy,
    output       [5:0] p       // signed product, |p| <= 9
);
    wire signed [2:0] xs = {sx & x[1], x};
    wire signed [2:0] ys = {sy & y[1], y};
    wire signed [5:0] xw = {{3{xs[2]}}, xs};
    wire signed [5:0] yw = {{3{ys[2]}}, ys};
    wire signed [5:0] ps = xw * yw;   // |product| <= 6: exact in 6 bits
    assign p = ps;
endmodule


module bitfusion_unit #(
    parameter A_W      = 8,
    parameter W_W      = 8,
    parameter A_SIGNED = 1,
    parameter W_SIGNED = 1,
    parameter ACC_W    = 32,
    parameter PAIRS    = 1     // must be 16 / ((A_W/2) * (W_W/2))
) (
    input                      clk,
    input                      rst,
    input                      clr,
    input                      run,
    input                      fin,
    input      [PAIRS-1:0]     lane_valid,
    input      [PAIRS*A_W-1:0] a_grp,
    input      [PAIRS*W_W-1:0] w_grp,
    output reg [ACC_W-1:0]     result
);
    localparam SA = A_W / 2;
    localparam SW = W_W / 2;

    // brick products (|p| <= 6) shifted by up to 2(SA-1 + SW-1); 16 of them: +4 bits
    localparam TW0 = 6 + 2 * (SA + SW - 2) + 4 + 1;
    localparam TW  = (TW0 < ACC_W) ? TW0 : ACC_W;

    wire [16*TW-1:0] terms;
    genvar b;
    generate
        for (b = 0; b < 16; b = b + 1) begin : g_brick
            localparam L = b / (SA * SW);
            localparam I = (b % (SA * SW)) / SW;
            localparam J = b % SW;
            wire [A_W-1:0] a_l = a_grp[L*A_W +: A_W];
            wire [W_W-1:0] w_l = w_grp[L*W_W +: W_W];
            wire [5:0]     p;
            bitbrick u_brick (
                .x(a_l[2*I +: 2]), .y(w_l[2*J +: 2]),
                .sx((A_SIGNED != 0) && (I == SA - 1)), .sy((W_SIGNED != 0) && (J == SW - 1)), .p(p));
            wire [TW-1:0]  p_ext = {{(TW-6){p[5]}}, p};
            assign terms[b*TW +: TW] = lane_valid[L] ? (p_ext << (2 * (I + J))) : {TW{1'b0}};
        end
    endgenerate

    wire [ACC_W-1:0] tree;
    reg  [ACC_W-1:0] acc;
    bitserial_add_tree #(.N(16), .W(TW), .OUT_W(ACC_W)) u_tree (.terms(terms), .sum(tree));

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


module bitfusion_dot #(
    parameter A_W      = 8,
    parameter W_W      = 8,
    parameter A_SIGNED = 1,
    parameter W_SIGNED = 1,
    parameter ACC_W    = 32,
    parameter PAIRS    = 1,    // 16 / ((A_W/2) * (W_W/2))
    parameter DEPTH    = 16    // operand buffer depth: a multiple of PAIRS, >= 4
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
    wire                 launch, run, fin;
    wire [PAIRS-1:0]     lane_valid;
    wire [PAIRS*A_W-1:0] a_grp;
    wire [PAIRS*W_W-1:0] w_grp;

    // groups of PAIRS elements, one RUN cycle each
    dot_host #(.A_W(A_W), .B_W(W_W), .DEPTH(DEPTH), .GROUP(PAIRS), .MASK(1)) u_host (
        .clk(clk), .rst(rst), .ld_en(ld_en), .ld_addr(ld_addr), .ld_a(ld_a), .ld_b(ld_w), .start(start),
        .k_len(k_len), .busy(busy), .done(done), .step(1'b1), .launch(launch), .run(run), .fin(fin),
        .pos(), .lane_valid(lane_valid), .a_grp(a_grp), .b_grp(w_grp));

    bitfusion_unit #(.A_W(A_W), .W_W(W_W), .A_SIGNED(A_SIGNED), .W_SIGNED(W_SIGNED), .ACC_W(ACC_W),
                     .PAIRS(PAIRS)) u_fu (
        .clk(clk), .rst(rst), .clr(launch), .run(run), .fin(fin), .lane_valid(lane_valid),
        .a_grp(a_grp), .w_grp(w_grp), .result(result));
endmodule
