`timescale 1ns/1ps
// The host side of the dot-product co-simulation tops: digit_skip_dot (digit_skip_pe.v),
// digit_skip_4e_dot (digit_skip_4e.v), stripes_dot (stripes_pe.v), laconic_dot (laconic_pe.v) and
// bitfusion_dot (bitfusion_pe.v). Each of them is this module plus its own PE.
//
// Modules:
//   dot_host  the operand buffers, their host write port, the start / k_len / busy / done
//             handshake and the walk over groups of GROUP elements:
//
//   host:  while idle, write element k of both operand buffers (ld_en, ld_addr = k, ld_a, ld_b;
//          one k per clock), then hold start high for one edge with k_len = K (1..DEPTH).
//   walk:  IDLE -start-> RUN -(last step of the last group)-> [MERGE] -> FIN -> IDLE, done.
//          The start edge (launch) latches K and clears the walk; the PE clears with it. A group is
//          the elements base .. base + GROUP - 1 (lane_valid: those below K; with MASK = 1 the
//          others read as zero); it takes SUBS steps, and a RUN cycle ends a step when the PE
//          raises `step` (1'b1 for a PE whose steps take one cycle each); pos counts the steps of
//          the group (a bit position, a digit position). After the last step of the group that
//          reaches K, DRAIN = 1 spends one MERGE cycle (a pipelined accumulator's last merge),
//          then FIN: the PE writes its result, done rises with it and busy falls.
//
//   read:  two ways to find a group, kept as the tops were designed (both synthesised for the
//          reports): ALIGNED = 1 counts groups, GROUP a power of two, so lane i reads the word
//          {group, i} and its read multiplexer picks among DEPTH / GROUP words (the OPT3 and OPT4E
//          tops); ALIGNED = 0 counts elements, base += GROUP, for any GROUP (the bit-serial
//          baselines, 3 lanes in the tests), each lane reading through a DEPTH-to-1 multiplexer.
//
// Cycles from the start edge to done, both counted:
//   1 (start: latch K, clear) + the RUN cycles (the PE's own count) + DRAIN + 1 (fin)
// The tops' docstrings give their RUN cycles. Group bookkeeping is in 32 bits (no truncation of
// the parameters); a top needs DEPTH a multiple of GROUP, so the groups never wrap the buffers.

module dot_host #(
    parameter A_W     = 8,
    parameter B_W     = 8,
    parameter DEPTH   = 16, // operand buffer depth, a multiple of GROUP
    parameter GROUP   = 4,  // elements per group: the PE's lanes
    parameter SUBS    = 1,  // steps per group
    parameter POS_W   = 1,  // width of pos: holds SUBS - 1
    parameter DRAIN   = 0,  // 0, or 1: one MERGE cycle between the last step and FIN
    parameter MASK    = 0,  // 1: lanes at or beyond K read as zero
    parameter ALIGNED = 0   // 1: count groups (GROUP a power of two), 0: count elements
) (
    input                          clk,
    input                          rst,
    // the host's ports, passed through by the top
    input                          ld_en,
    input      [$clog2(DEPTH)-1:0] ld_addr,
    input      [A_W-1:0]           ld_a,
    input      [B_W-1:0]           ld_b,
    input                          start,
    input      [$clog2(DEPTH):0]   k_len,    // K, 1..DEPTH
    output                         busy,
    output reg                     done,
    // the PE's side
    input                          step,        // this RUN cycle ends a step
    output                         launch,      // the start edge: the PE clears
    output                         run,         // a RUN cycle
    output                         fin,         // the PE writes its result
    output reg [POS_W-1:0]         pos,         // step of the current group, 0..SUBS-1
    output     [GROUP-1:0]         lane_valid,  // element base + i is inside K
    output     [GROUP*A_W-1:0]     a_grp,       // a of element base + i at [i*A_W +: A_W]
    output     [GROUP*B_W-1:0]     b_grp        // b of element base + i at [i*B_W +: B_W]
);
    localparam AW = $clog2(DEPTH);
    localparam [1:0] IDLE = 2'd0, RUN = 2'd1, MERGE = 2'd2;
    localparam [1:0] FIN  = (DRAIN != 0) ? 2'd3 : 2'd2;

    reg [A_W-1:0] a_buf [0:DEPTH-1];
    reg [B_W-1:0] b_buf [0:DEPTH-1];

    always @(posedge clk) begin
        if (ld_en) begin
            a_buf[ld_addr] <= ld_a;
            b_buf[ld_addr] <= ld_b;
        end
    end

    // the current group's first element is grp << SH: with ALIGNED = 1 the low SH address bits
    // of lane i are the constant i
    localparam SH = (ALIGNED != 0) ? $clog2(GROUP) : 0;
    localparam [31:0] ADVANCE = (ALIGNED != 0) ? 1 : GROUP;

    reg [1:0]  state;
    reg [AW:0] k_q;
    reg [AW:0] grp;     // AW + 1 bits: an element count reaches DEPTH

    assign launch = start & (state == IDLE);
    assign run    = (state == RUN);
    assign fin    = (state == FIN);
    assign busy   = (state != IDLE);

    wire [31:0] grp32      = {{(31-AW){1'b0}}, grp};
    wire [31:0] base32     = grp32 << SH;
    wire [31:0] k32        = {{(31-AW){1'b0}}, k_q};
    wire [31:0] next_grp   = grp32 + ADVANCE;
    wire        last_group = (base32 + GROUP >= k32);
    wire        last_step  = ({{(32-POS_W){1'b0}}, pos} == SUBS - 1);

    genvar i;
    generate
        for (i = 0; i < GROUP; i = i + 1) begin : g_lane
            wire [31:0] addr = base32 + i;
            assign lane_valid[i] = (addr < k32);
            if (MASK != 0) begin : g_mask
                assign a_grp[i*A_W +: A_W] = lane_valid[i] ? a_buf[addr[AW-1:0]] : {A_W{1'b0}};
                assign b_grp[i*B_W +: B_W] = lane_valid[i] ? b_buf[addr[AW-1:0]] : {B_W{1'b0}};
            end else begin : g_raw
                assign a_grp[i*A_W +: A_W] = a_buf[addr[AW-1:0]];
                assign b_grp[i*B_W +: B_W] = b_buf[addr[AW-1:0]];
            end
        end
    endgenerate

    always @(posedge clk) begin
        if (rst) begin
            state <= IDLE;
            done  <= 1'b0;
            k_q   <= {(AW+1){1'b0}};
            grp   <= {(AW+1){1'b0}};
            pos   <= {POS_W{1'b0}};
        end else begin
            done <= 1'b0;
            case (state)
                IDLE: if (launch) begin
                    state <= RUN;
                    k_q   <= k_len;
                    grp   <= {(AW+1){1'b0}};
                    pos   <= {POS_W{1'b0}};
                end
                RUN: if (step) begin
                    if (last_step) begin
                        pos <= {POS_W{1'b0}};
                        if (last_group)
                            state <= (DRAIN != 0) ? MERGE : FIN;
                        else
                            grp <= next_grp[AW:0];
                    end else begin
                        pos <= pos + 1'b1;
                    end
                end
                default: if ((DRAIN != 0) && (state == MERGE)) begin
                    state <= FIN;
                end else begin   // FIN: the PE writes result; done rises with it
                    state <= IDLE;
                    done  <= 1'b1;
                end
            endcase
        end
    end
endmodule
