`timescale 1ns/1ps
// Zero-digit-skipping (OPT3) INT8 dot-product processing element, after the TPE paper (PAPERS.md).
//
// Modules:
//   radix4_digit_encoder  one int8 operand -> 4 signed radix-4 digits as (nz, neg, two) flags:
//                         ENC = 0 EN-T (sign-magnitude with carry recoding), ENC = 1 modified Booth;
//                         the definitions are those of sim/digits.py.
//   digit_skip_seq        the digit side: encodes a group of 4 a-operands and, per digit position,
//                         picks one non-zero digit per cycle (lowest lane first; an idle cycle if
//                         there is none), saying which lane, its sign and whether it is +-2.
//   digit_skip_merge      the slot store: the narrow (sum, carry) pair; a finished slot is
//                         resolved, shifted by 2j and compressed into the wide carry-save
//                         accumulator on the next clock; `fin` writes result = sum + carry
//                         (shared with the OPT4E accumulator, digit_skip_4e.v).
//   digit_skip_acc        the b side: selects +-B or +-2B of the picked lane into the narrow
//                         pair with a 3:2, through digit_skip_merge.
//   digit_skip_pe         one sequencer + one accumulator: the OPT3 PE (the synthesis unit).
//   digit_skip_dot        the co-simulation top: dot_host (dot_host.v: operand buffers loaded by
//                         the host, start/done, the walk over groups of 4 and their 4 digit
//                         positions, a merge cycle) and N accumulator columns sharing one
//                         sequencer (the shared-encoder arrangement of the paper's OPT4C): column
//                         c computes sum_k a_k b_kc. N = 1 is a single PE's dot product. Every
//                         column takes the same cycles, because they depend on a's digits only.
//
// Cycles from the start edge to done, both counted (sim/digit_skip.py, dot_cycles):
//   1 (start: latch K, clear) + sum over slots of max(1, non-zero digits) + 1 (last merge) + 1 (fin)
// Exact arithmetic: the narrow pair works modulo 2^12 (|slot sum| <= 4 * 256), the wide pair
// modulo 2^ACC_W; both are exact while the true values fit, which sim/digit_skip.py checks.

module radix4_digit_encoder #(
    parameter ENC = 0
) (
    input  [7:0] x,
    output [3:0] nz,    // digit j is non-zero
    output [3:0] neg,   // digit j is negative (meaningful when nz)
    output [3:0] two    // |digit j| == 2 (meaningful when nz)
);
    genvar j;
    generate
        if (ENC == 0) begin : g_ent
            // sign-magnitude; |-128| = 128 needs the ninth bit
            wire       sign = x[7];
            wire [8:0] mag  = sign ? (9'd0 - {1'b1, x}) : {1'b0, x};
            // carry into digit j: c_{j+1} = (m_j + c_j >= 3), unrolled into separate nets (a
            // vector whose bits feed each other is circular logic to Verilator)
            wire       c1 = mag[1] & mag[0];
            wire       c2 = (mag[3] & mag[2]) | (mag[3] & c1);
            wire       c3 = (mag[5] & mag[4]) | (mag[5] & c2);
            wire [3:0] c  = {c3, c2, c1, 1'b0};
            for (j = 0; j < 4; j = j + 1) begin : g_digit
                // r = magnitude digit + carry, 0..4; 3 becomes -1 carry 1, 4 becomes 0 carry 1
                wire [2:0] r = {1'b0, mag[2*j+1:2*j]} + {2'b00, c[j]};
                assign nz[j]  = (r != 3'd0) & (r != 3'd4);
                assign two[j] = (r == 3'd2);
                assign neg[j] = sign ^ (r == 3'd3);
            end
        end else begin : g_booth
            wire [8:0] xe = {x, 1'b0};   // x_{-1} = 0
            for (j = 0; j < 4; j = j + 1) begin : g_digit
                // d = -2 x_{2j+1} + x_{2j} + x_{2j-1}
                wire h = xe[2*j+2];
                wire l = xe[2*j+1];
                wire p = xe[2*j];
                assign nz[j]  = ~((h & l & p) | (~h & ~l & ~p));
                assign two[j] = (h & ~l & ~p) | (~h & l & p);
                assign neg[j] = h;
            end
        end
    endgenerate
endmodule


module digit_skip_seq #(
    parameter ENC = 0
) (
    input             clk,
    input             rst,
    input             clr,          // start edge: clear the slot state
    input             run,          // a slot cycle
    input      [1:0]  pos,          // digit position j of the current slot
    input      [3:0]  lane_valid,   // lanes 0..3 of the group that are inside K
    input      [31:0] a_grp,        // 4 raw int8 a-operands, lane i at [8i +: 8]
    output     [1:0]  sel_lane,     // the lane picked this cycle
    output            sel_valid,    // a lane was picked (0: an idle cycle of an all-zero slot)
    output            sel_neg,      // its digit is negative
    output            sel_two,      // its digit is +-2
    output            first,        // the first cycle of a slot (the narrow pair restarts)
    output            slot_last     // this cycle ends the slot
);
    // digit flags of the 4 lanes: net arrays indexed by lane
    wire [3:0] nz_l  [0:3];
    wire [3:0] neg_l [0:3];
    wire [3:0] two_l [0:3];
    wire [3:0] nz_sel;   // lane i has a non-zero digit at position pos

    genvar i;
    generate
        for (i = 0; i < 4; i = i + 1) begin : g_lane
            radix4_digit_encoder #(.ENC(ENC)) u_enc (
                .x(a_grp[8*i +: 8]), .nz(nz_l[i]), .neg(neg_l[i]), .two(two_l[i]));
            assign nz_sel[i] = nz_l[i][pos] & lane_valid[i];
        end
    endgenerate

    // lanes of this slot already picked; 0 on a slot's first cycle (every earlier cycle of a
    // slot picked a lane), so no separate first-cycle flag is stored
    reg [3:0] lane_done;

    wire [3:0] remaining = nz_sel & ~lane_done;
    wire [3:0] pick      = remaining & (~remaining + 4'd1);   // lowest remaining lane, one-hot
    assign slot_last     = ((remaining & ~pick) == 4'd0);
    assign sel_lane      = {pick[3] | pick[2], pick[3] | pick[1]};
    assign sel_valid     = (pick != 4'd0);
    assign sel_neg       = neg_l[sel_lane][pos];
    assign sel_two       = two_l[sel_lane][pos];
    assign first         = (lane_done == 4'd0);

    always @(posedge clk) begin
        if (rst | clr)
            lane_done <= 4'd0;
        else if (run)
            lane_done <= slot_last ? 4'd0 : (lane_done | pick);
    end
endmodule


module digit_skip_merge #(
    parameter PW    = 12,   // narrow pair width
    parameter ACC_W = 32
) (
    input                  clk,
    input                  rst,
    input                  clr,          // start edge: clear the pairs
    input                  run,          // a slot cycle: the narrow pair takes (n_s, n_c)
    input                  fin,          // final carry-propagate add into result
    input      [1:0]       pos,          // digit position j of the current slot
    input                  slot_last,    // this cycle ends the slot
    input      [PW-1:0]    n_s,          // the slot's next narrow (sum, carry) pair
    input      [PW-1:0]    n_c,
    output reg [PW-1:0]    p_s,          // the narrow pair of the current slot
    output reg [PW-1:0]    p_c,
    output reg [ACC_W-1:0] result
);
    // The slot store and merge both accumulators share (digit_skip_acc, OPT3; digit_skip_acc4,
    // OPT4E): a finished slot waits in (p_s, p_c); on the next clock it is resolved (a PW-bit
    // add), sign-extended, shifted by 2j and compressed (3:2) into the wide (sum, carry) pair,
    // overlapping the next slot's first cycle; `fin` writes result = sum + carry.
    reg             m_v;        // a finished slot waits in (p_s, p_c) for its merge
    reg [1:0]       m_j;        // its digit position
    reg [ACC_W-1:0] acc_s, acc_c;

    wire [PW-1:0]    p_sum = p_s + p_c;
    wire [ACC_W-1:0] p_ext = {{(ACC_W-PW){p_sum[PW-1]}}, p_sum};
    wire [ACC_W-1:0] part  = p_ext << {m_j, 1'b0};
    wire [ACC_W-1:0] w_s   = acc_s ^ acc_c ^ part;
    wire [ACC_W-1:0] w_c   = ((acc_s & acc_c) | (acc_s & part) | (acc_c & part)) << 1;

    always @(posedge clk) begin
        if (rst | clr) begin
            p_s   <= {PW{1'b0}};
            p_c   <= {PW{1'b0}};
            m_v   <= 1'b0;
            m_j   <= 2'd0;
            acc_s <= {ACC_W{1'b0}};
            acc_c <= {ACC_W{1'b0}};
        end else begin
            if (m_v) begin
                acc_s <= w_s;
                acc_c <= w_c;
            end
            if (run) begin
                p_s <= n_s;
                p_c <= n_c;
                m_v <= slot_last;
                m_j <= pos;
            end else begin
                m_v <= 1'b0;
            end
        end
    end

    always @(posedge clk) begin
        if (rst)
            result <= {ACC_W{1'b0}};
        else if (fin)
            result <= acc_s + acc_c;
    end
endmodule


module digit_skip_acc #(
    parameter ACC_W = 32
) (
    input                  clk,
    input                  rst,
    input                  clr,          // start edge: clear the accumulators
    input                  run,          // a slot cycle
    input                  fin,          // final carry-propagate add into result
    input      [1:0]       pos,
    input      [31:0]      b_grp,        // this column's 4 raw int8 b-operands, lane i at [8i +: 8]
    input      [1:0]       sel_lane,
    input                  sel_valid,
    input                  sel_neg,
    input                  sel_two,
    input                  first,
    input                  slot_last,
    output     [ACC_W-1:0] result
);
    localparam PW = 12;   // narrow partial: |sum of 4 terms| <= 4 * 2 * 128 = 1024

    wire [PW-1:0] p_s, p_c;   // narrow carry-save pair of the current slot (digit_skip_merge)

    wire [7:0]    b_sel = b_grp[8*sel_lane +: 8];
    wire [PW-1:0] b_ext = {{(PW-8){b_sel[7]}}, b_sel};
    wire [PW-1:0] mult  = sel_two ? {b_ext[PW-2:0], 1'b0} : b_ext;        // +-B or +-2B
    wire [PW-1:0] term  = sel_valid ? (sel_neg ? (~mult + 1'b1) : mult) : {PW{1'b0}};

    // narrow 3:2 compression; a slot's first cycle starts from zero
    wire [PW-1:0] base_s = first ? {PW{1'b0}} : p_s;
    wire [PW-1:0] base_c = first ? {PW{1'b0}} : p_c;
    wire [PW-1:0] n_s    = base_s ^ base_c ^ term;
    wire [PW-1:0] n_c    = ((base_s & base_c) | (base_s & term) | (base_c & term)) << 1;

    digit_skip_merge #(.PW(PW), .ACC_W(ACC_W)) u_merge (
        .clk(clk), .rst(rst), .clr(clr), .run(run), .fin(fin), .pos(pos), .slot_last(slot_last),
        .n_s(n_s), .n_c(n_c), .p_s(p_s), .p_c(p_c), .result(result));
endmodule


module digit_skip_pe #(
    parameter ACC_W = 32,
    parameter ENC   = 0
) (
    input                  clk,
    input                  rst,
    input                  clr,          // start edge: clear accumulators and slot state
    input                  run,          // a slot cycle: select one digit's multiple
    input                  fin,          // final carry-propagate add into result
    input      [1:0]       pos,          // digit position j of the current slot
    input      [3:0]       lane_valid,   // lanes 0..3 of the group that are inside K
    input      [31:0]      a_grp,        // 4 raw int8 a-operands, lane i at [8i +: 8]
    input      [31:0]      b_grp,        // 4 raw int8 b-operands
    output                 slot_last,    // this cycle ends the slot
    output     [ACC_W-1:0] result
);
    wire [1:0] sel_lane;
    wire       sel_valid, sel_neg, sel_two, first;

    digit_skip_seq #(.ENC(ENC)) u_seq (
        .clk(clk), .rst(rst), .clr(clr), .run(run), .pos(pos), .lane_valid(lane_valid), .a_grp(a_grp),
        .sel_lane(sel_lane), .sel_valid(sel_valid), .sel_neg(sel_neg), .sel_two(sel_two), .first(first),
        .slot_last(slot_last));
    digit_skip_acc #(.ACC_W(ACC_W)) u_acc (
        .clk(clk), .rst(rst), .clr(clr), .run(run), .fin(fin), .pos(pos), .b_grp(b_grp),
        .sel_lane(sel_lane), .sel_valid(sel_valid), .sel_neg(sel_neg), .sel_two(sel_two), .first(first),
        .slot_last(slot_last), .result(result));
endmodule


module digit_skip_dot #(
    parameter ACC_W = 32,
    parameter DEPTH = 16,   // operand buffer depth: a power of two >= 4 (whole groups of 4)
    parameter ENC   = 0,
    parameter N     = 1     // accumulator columns sharing the digit sequencer
) (
    input                          clk,
    input                          rst,
    input                          ld_en,
    input      [$clog2(DEPTH)-1:0] ld_addr,
    input      [7:0]               ld_a,     // a_k
    input      [N*8-1:0]           ld_b,     // b_kc of column c at [8c +: 8]
    input                          start,
    input      [$clog2(DEPTH):0]   k_len,    // K, 1..DEPTH
    output                         busy,
    output                         done,
    output     [N*ACC_W-1:0]       result    // column c at [c*ACC_W +: ACC_W]
);
    wire            launch, run, fin, slot_last;
    wire [1:0]      pos;
    wire [3:0]      lane_valid;
    wire [31:0]     a_grp;
    wire [N*32-1:0] b_rows;   // lane i's row of N b-operands at [8(N i + c) +: 8]

    // groups of 4 elements, one slot per digit position, a merge cycle before fin
    dot_host #(.A_W(8), .B_W(N*8), .DEPTH(DEPTH), .GROUP(4), .SUBS(4), .POS_W(2), .DRAIN(1), .ALIGNED(1)) u_host (
        .clk(clk), .rst(rst), .ld_en(ld_en), .ld_addr(ld_addr), .ld_a(ld_a), .ld_b(ld_b), .start(start),
        .k_len(k_len), .busy(busy), .done(done), .step(slot_last), .launch(launch), .run(run), .fin(fin),
        .pos(pos), .lane_valid(lane_valid), .a_grp(a_grp), .b_grp(b_rows));

    wire [1:0] sel_lane;
    wire       sel_valid, sel_neg, sel_two, first;

    digit_skip_seq #(.ENC(ENC)) u_seq (
        .clk(clk), .rst(rst), .clr(launch), .run(run), .pos(pos), .lane_valid(lane_valid), .a_grp(a_grp),
        .sel_lane(sel_lane), .sel_valid(sel_valid), .sel_neg(sel_neg), .sel_two(sel_two), .first(first),
        .slot_last(slot_last));

    // one accumulator per column, fed by its column of the b rows
    genvar i, c;
    generate
        for (c = 0; c < N; c = c + 1) begin : g_col
            wire [31:0] b_grp;
            for (i = 0; i < 4; i = i + 1) begin : g_lane
                assign b_grp[8*i +: 8] = b_rows[8*(N*i + c) +: 8];
            end
            digit_skip_acc #(.ACC_W(ACC_W)) u_acc (
                .clk(clk), .rst(rst), .clr(launch), .run(run), .fin(fin), .pos(pos), .b_grp(b_grp),
                .sel_lane(sel_lane), .sel_valid(sel_valid), .sel_neg(sel_neg), .sel_two(sel_two),
                .first(first), .slot_last(slot_last), .result(result[c*ACC_W +: ACC_W]));
        end
    endgenerate
endmodule
