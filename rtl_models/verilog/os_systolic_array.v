`timescale 1ns/1ps
// Output-stationary R x C INT8 GEMM systolic array with operand and output buffers.
//
// One fold computes an R x C output tile over a reduction of length t (= K):
//   1. the host writes t k-slices through the load port: ld_a = a[0..R-1][k], ld_b = b[k][0..C-1]
//      (lane 0 in the low bits);
//   2. a one-cycle start (with t_len = t) launches the fold. The start edge is already the first
//      cycle of the stream: the slice at address 0 enters the array on that edge;
//   3. k-slices leave the buffers one per cycle; skew_delay holds row i back i cycles and
//      column j back j cycles, so PE (i, j) meets a[i][k] and b[k][j] on cycle k + i + j and
//      accumulates in place. PE (R-1, C-1) takes its last pair on cycle t + R + C - 3;
//   4. drain: for R cycles the accumulators shift down their columns one row per cycle and the
//      bottom row is written into the output buffer (row R-1 first); zeros shift in from the
//      top, leaving the array cleared for the next fold. done pulses with the last write.
// Cycles from the start edge to done, both counted: (t + R + C - 2) + R = 2R + C + t - 2,
// the per-fold formula of SCALE-Sim and of sim/systolic.py's fold_cycles.
// The output buffer is read through a registered port: rd_data shows row rd_addr one cycle later.
module os_systolic_array #(
    parameter R     = 4,
    parameter C     = 4,
    parameter A_W   = 8,
    parameter B_W   = 8,
    parameter ACC_W = 32,
    parameter DEPTH = 16,
    parameter PE_KIND = 0   // 0: mac_pe (baseline); 1: booth_csa_pe (OPT1, carry-save accumulation)
) (
    input                              clk,
    input                              rst,
    input                              ld_en,
    input      [$clog2(DEPTH)-1:0]     ld_addr,
    input      [R*A_W-1:0]             ld_a,
    input      [C*B_W-1:0]             ld_b,
    input                              start,
    input      [$clog2(DEPTH):0]       t_len,
    output                             busy,
    output                             done,
    input      [$clog2(R > 1 ? R : 2)-1:0] rd_addr,
    output reg [C*ACC_W-1:0]           rd_data
);
    localparam RAW = $clog2(R > 1 ? R : 2);
    localparam integer FILL_I = R + C - 2;            // skew fill of the last PE
    localparam integer DRAIN_END_I = 2 * R + C - 3;   // last drain cycle of a fold, minus t
    // PE_KIND 1 splits the read-out carry-propagate add over two cycles (low half, then high
    // half with the low half's carry), so that add does not set the array's clock: one more cycle
    localparam integer PIPE = (PE_KIND == 1) ? 1 : 0;
    localparam integer LAST_I = DRAIN_END_I + PIPE;   // last cycle index of a fold, minus t
    localparam integer HALF = ACC_W / 2;

    reg [C*ACC_W-1:0] out_buf [0:R-1];

    // operand buffers, cycle counter, feed and drain windows, done (os_fold_ctrl.v); the feed
    // is one k-slice per cycle (zeros outside the stream), then the systolic skew
    wire             drain;
    wire [RAW-1:0]   drain_row;
    wire [R*A_W-1:0] a_feed;
    wire [C*B_W-1:0] b_feed;
    wire [R*A_W-1:0] a_edge;
    wire [C*B_W-1:0] b_edge;

    os_fold_ctrl #(.R(R), .C(C), .A_W(A_W), .B_W(B_W), .DEPTH(DEPTH),
                   .FILL_I(FILL_I), .DRAIN_END_I(DRAIN_END_I), .LAST_I(LAST_I)) u_ctrl (
        .clk(clk), .rst(rst), .ld_en(ld_en), .ld_addr(ld_addr), .ld_a(ld_a), .ld_b(ld_b),
        .start(start), .t_len(t_len), .busy(busy), .done(done),
        .feed_valid(), .a_feed(a_feed), .b_feed(b_feed), .drain(drain), .drain_row(drain_row)
    );

    skew_delay #(.LANES(R), .W(A_W)) u_skew_a (.clk(clk), .rst(rst), .din(a_feed), .dout(a_edge));
    skew_delay #(.LANES(C), .W(B_W)) u_skew_b (.clk(clk), .rst(rst), .din(b_feed), .dout(b_edge));

    // a_link: R rows x (C+1) hops; b_link and acc_link: (R+1) hops x C columns. Net arrays, one
    // element per hop, not one flat vector: a simulator re-evaluates every reader of a vector
    // when any bit of it changes, which made a 16x16 array ~200x slower on Icarus.
    wire [A_W-1:0]   a_link   [0:R*(C+1)-1];
    wire [B_W-1:0]   b_link   [0:(R+1)*C-1];
    wire [ACC_W-1:0] acc_link [0:(R+1)*C-1];
    wire [ACC_W-1:0] carry_link [0:(R+1)*C-1];   // PE_KIND 1: the carry words of the (sum, carry) pairs
    wire [C*ACC_W-1:0] bottom;   // the bottom row's accumulators, drained into the output buffer

    genvar i, j;
    generate
        for (i = 0; i < R; i = i + 1) begin : g_a_edge
            assign a_link[i*(C+1)] = a_edge[i*A_W +: A_W];
        end
        for (j = 0; j < C; j = j + 1) begin : g_b_edge
            assign b_link[j]   = b_edge[j*B_W +: B_W];
            assign acc_link[j]   = {ACC_W{1'b0}};   // drained into row 0: zeros
            assign carry_link[j] = {ACC_W{1'b0}};
            // PE_KIND 1 keeps (sum, carry) pairs in the PEs: the one carry-propagate add per
            // result happens here, as it drains (for PE_KIND 0 the carry words stay zero)
            assign bottom[j*ACC_W +: ACC_W] = acc_link[R*C+j] + carry_link[R*C+j];
        end
        for (i = 0; i < R; i = i + 1) begin : g_row
            for (j = 0; j < C; j = j + 1) begin : g_col
                if (PE_KIND == 1) begin : g_csa
                    booth_csa_pe #(.A_W(A_W), .B_W(B_W), .ACC_W(ACC_W)) u_pe (
                        .clk      (clk),
                        .rst      (rst),
                        .drain    (drain),
                        .a_in     (a_link[i*(C+1)+j]),
                        .b_in     (b_link[i*C+j]),
                        .sum_in   (acc_link[i*C+j]),
                        .carry_in (carry_link[i*C+j]),
                        .a_out    (a_link[i*(C+1)+j+1]),
                        .b_out    (b_link[(i+1)*C+j]),
                        .sum_out  (acc_link[(i+1)*C+j]),
                        .carry_out(carry_link[(i+1)*C+j])
                    );
                end else begin : g_mac
                    mac_pe #(.A_W(A_W), .B_W(B_W), .ACC_W(ACC_W)) u_pe (
                        .clk    (clk),
                        .rst    (rst),
                        .drain  (drain),
                        .a_in   (a_link[i*(C+1)+j]),
                        .b_in   (b_link[i*C+j]),
                        .acc_in (acc_link[i*C+j]),
                        .a_out  (a_link[i*(C+1)+j+1]),
                        .b_out  (b_link[(i+1)*C+j]),
                        .acc_out(acc_link[(i+1)*C+j])
                    );
                    assign carry_link[(i+1)*C+j] = {ACC_W{1'b0}};
                end
            end
        end
    endgenerate

    // PE_KIND 1 read-out, stage 1: low halves of sum + carry, and the high halves, registered
    reg  [C*(HALF+1)-1:0]      ro_lo;
    reg  [C*(ACC_W-HALF)-1:0]  ro_hs, ro_hc;
    reg                        ro_valid;
    reg  [RAW-1:0]             ro_row;
    wire [C*ACC_W-1:0]         ro_result;   // stage 2: high halves plus the low halves' carries
    generate
        for (j = 0; j < C; j = j + 1) begin : g_ro
            assign ro_result[j*ACC_W +: ACC_W] = {ro_hs[j*(ACC_W-HALF) +: ACC_W-HALF] + ro_hc[j*(ACC_W-HALF) +: ACC_W-HALF]
                                                  + ro_lo[j*(HALF+1) + HALF], ro_lo[j*(HALF+1) +: HALF]};
            always @(posedge clk) begin
                ro_lo[j*(HALF+1) +: HALF+1] <= {1'b0, acc_link[R*C+j][HALF-1:0]} + {1'b0, carry_link[R*C+j][HALF-1:0]};
                ro_hs[j*(ACC_W-HALF) +: ACC_W-HALF] <= acc_link[R*C+j][ACC_W-1:HALF];
                ro_hc[j*(ACC_W-HALF) +: ACC_W-HALF] <= carry_link[R*C+j][ACC_W-1:HALF];
            end
        end
    endgenerate

    always @(posedge clk) begin
        if (rst) begin
            ro_valid <= 1'b0;
        end else begin
            ro_valid <= drain;
        end
        ro_row <= drain_row;
        if (PE_KIND == 1) begin
            if (ro_valid)
                out_buf[ro_row] <= ro_result;
        end else if (drain) begin
            out_buf[drain_row] <= bottom;
        end
        rd_data <= out_buf[rd_addr];
    end
endmodule
