`timescale 1ns/1ps
// Stripes-style bit-serial dot-product PE (Judd et al., MICRO 2016; sim/bitserial.py).
//
// Modules:
//   stripes_pe   the serial inner-product unit: LANES weights (W_W bits, two's complement) in
//                parallel, one activation bit per lane per cycle; the lanes' AND terms are summed
//                in an adder tree, the sum shifted by the bit position and added into the
//                accumulator (subtracted on the MSB cycle of signed activations). `fin` writes
//                result = acc.
//   stripes_dot  the co-simulation top: dot_host (dot_host.v: operand buffers loaded by the host,
//                start/done, the walk over groups of LANES elements and their A_W bit positions,
//                LSB first) and the PE.
//
// Cycles from the start edge to done, both counted (sim/bitserial.py, dot_cycles):
//   1 (start: latch K, clear) + ceil(K / LANES) * A_W + 1 (fin: result, done)
// Exact arithmetic modulo 2^ACC_W: exact while the dot product fits, which the model checks.

module stripes_pe #(
    parameter A_W      = 8,
    parameter W_W      = 8,
    parameter LANES    = 16,
    parameter ACC_W    = 32,
    parameter A_SIGNED = 1
) (
    input                      clk,
    input                      rst,
    input                      clr,          // start edge: clear the accumulator
    input                      run,          // a compute cycle
    input                      fin,          // write result
    input      [4:0]           bitpos,       // activation bit i of this cycle
    input      [LANES-1:0]     lane_valid,
    input      [LANES*A_W-1:0] a_grp,        // lane l at [l*A_W +: A_W]
    input      [LANES*W_W-1:0] w_grp,        // lane l at [l*W_W +: W_W]
    output reg [ACC_W-1:0]     result
);
    // the lanes' AND terms: |sum| <= LANES * 2^(W_W-1), so W_W + clog2(LANES) + 1 bits hold it
    localparam TW0 = W_W + $clog2(LANES) + 1;
    localparam TW  = (TW0 < ACC_W) ? TW0 : ACC_W;

    reg  [ACC_W-1:0]    acc;
    wire [ACC_W-1:0]    tree;     // sum of the selected weights, sign-extended
    wire [LANES*TW-1:0] terms;
    genvar l;
    generate
        for (l = 0; l < LANES; l = l + 1) begin : g_and
            wire [A_W-1:0] a_l  = a_grp[l*A_W +: A_W];
            wire [W_W-1:0] w_l  = w_grp[l*W_W +: W_W];
            wire [A_W-1:0] a_sh = a_l >> bitpos;
            assign terms[l*TW +: TW] = (lane_valid[l] & a_sh[0]) ? {{(TW-W_W){w_l[W_W-1]}}, w_l} : {TW{1'b0}};
        end
    endgenerate
    bitserial_add_tree #(.N(LANES), .W(TW), .OUT_W(ACC_W)) u_tree (.terms(terms), .sum(tree));

    wire [ACC_W-1:0] shifted = tree << bitpos;
    wire             msb     = (A_SIGNED != 0) && ({27'd0, bitpos} == A_W - 1);

    always @(posedge clk) begin
        if (rst | clr)
            acc <= {ACC_W{1'b0}};
        else if (run)
            acc <= msb ? (acc - shifted) : (acc + shifted);
    end

    always @(posedge clk) begin
        if (rst)
            result <= {ACC_W{1'b0}};
        else if (fin)
            result <= acc;
    end
endmodule


module stripes_dot #(
    parameter A_W      = 8,
    parameter W_W      = 8,
    parameter LANES    = 16,
    parameter ACC_W    = 32,
    parameter A_SIGNED = 1,
    parameter DEPTH    = 16    // operand buffer depth: a multiple of LANES, >= 4
) (
    input                          clk,
    input                          rst,
    input                          ld_en,
    input      [$clog2(DEPTH)-1:0] ld_addr,
    input      [A_W-1:0]           ld_a,
    input      [W_W-1:0]           ld_w,
    input                          start,
    input      [$clog2(DEPTH):0]   k_len,    // K, 1..DEPTH
    output                         busy,
    output                         done,
    output     [ACC_W-1:0]         result
);
    wire                 launch, run, fin;
    wire [4:0]           bitpos;
    wire [LANES-1:0]     lane_valid;
    wire [LANES*A_W-1:0] a_grp;
    wire [LANES*W_W-1:0] w_grp;

    // groups of LANES elements, one step per activation bit (every RUN cycle), no drain
    dot_host #(.A_W(A_W), .B_W(W_W), .DEPTH(DEPTH), .GROUP(LANES), .SUBS(A_W), .POS_W(5), .MASK(1)) u_host (
        .clk(clk), .rst(rst), .ld_en(ld_en), .ld_addr(ld_addr), .ld_a(ld_a), .ld_b(ld_w), .start(start),
        .k_len(k_len), .busy(busy), .done(done), .step(1'b1), .launch(launch), .run(run), .fin(fin),
        .pos(bitpos), .lane_valid(lane_valid), .a_grp(a_grp), .b_grp(w_grp));

    stripes_pe #(.A_W(A_W), .W_W(W_W), .LANES(LANES), .ACC_W(ACC_W), .A_SIGNED(A_SIGNED)) u_pe (
        .clk(clk), .rst(rst), .clr(launch), .run(run), .fin(fin), .bitpos(bitpos),
        .lane_valid(lane_valid), .a_grp(a_grp), .w_grp(w_grp), .result(result));
endmodule
