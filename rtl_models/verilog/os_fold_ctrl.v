`timescale 1ns/1ps
// Fold control of the systolic arrays.
//
// fold_counter: the start/busy/done handshake and the cycle index of one fold, shared by
// os_systolic_array.v, fp8_os_array.v (through os_fold_ctrl) and ws_systolic_array.v. A start
// while idle (launch) latches t_len; the start edge is cycle 0 (cyc reads 0 while idle, so the
// parent sees cycle 0 on the launch edge itself), and the fold's last cycle is t + LAST_I, on
// which busy falls and done pulses (one cycle, seen after that edge). Start to done, both
// counted: t + LAST_I + 1 cycles. t_cur is the fold's t: t_len on the launch edge, then the
// latched copy.
module fold_counter #(
    parameter TW     = 5,   // t_len bits
    parameter CW     = 7,   // cycle index bits, wider than t_len and able to hold t + LAST_I
    parameter LAST_I = 0    // last cycle index of a fold, minus t
) (
    input               clk,
    input               rst,
    input               start,
    input      [TW-1:0] t_len,
    output              launch,   // start while idle: this edge is cycle 0 of a fold
    output reg          busy,
    output reg          done,
    output reg [CW-1:0] cyc,      // cycle index within the fold; 0 while idle
    output     [CW-1:0] t_cur
);
    wire [CW-1:0] last_off = LAST_I[CW-1:0];
    reg  [TW-1:0] t_q;

    assign launch = start & ~busy;
    assign t_cur  = {{(CW-TW){1'b0}}, busy ? t_q : t_len};
    wire [CW-1:0] last_cyc = t_cur + last_off;

    always @(posedge clk) begin
        if (rst) begin
            busy <= 1'b0;
            done <= 1'b0;
            cyc  <= {CW{1'b0}};
            t_q  <= {TW{1'b0}};
        end else begin
            done <= 1'b0;
            if (launch) begin
                busy <= 1'b1;
                cyc  <= {{(CW-1){1'b0}}, 1'b1};
                t_q  <= t_len;
            end else if (busy) begin
                if (cyc == last_cyc) begin
                    busy <= 1'b0;
                    done <= 1'b1;
                    cyc  <= {CW{1'b0}};
                end else begin
                    cyc <= cyc + 1'b1;
                end
            end
        end
    end
endmodule

// os_fold_ctrl: everything of an output-stationary R x C array's fold but the PEs, the skew and
// the output buffer (os_systolic_array.v, fp8_os_array.v):
//   * the operand buffers: the host writes k-slice ld_addr (ld_a = a[0..R-1][k], ld_b =
//     b[k][0..C-1], lane 0 in the low bits) before start;
//   * the feed: on cycles 0..t-1 of a fold (feed_valid) the slice k = cyc leaves the buffers as
//     a_feed / b_feed, zeros outside the stream;
//   * the drain window: cycles t + FILL_I .. t + DRAIN_END_I (R of them), drain_row = R-1 on the
//     first, 0 on the last;
//   * done on cycle t + LAST_I (fold_counter), LAST_I >= DRAIN_END_I leaving room for a
//     read-out pipeline after the drain.
// The arrays differ only in these offsets (minus t): the INT8 array's PE accumulates on the
// cycle its operands arrive (FILL_I = R + C - 2), the FP8 PE registers the product first
// (FILL_I = R + C - 1); DRAIN_END_I = FILL_I + R - 1; LAST_I = DRAIN_END_I, or one more where
// the INT8 array's OPT1 PE (PE_KIND 1) registers its read-out add.
module os_fold_ctrl #(
    parameter R           = 4,
    parameter C           = 4,
    parameter A_W         = 8,    // bits per A lane
    parameter B_W         = 8,    // bits per B lane
    parameter DEPTH       = 16,
    parameter FILL_I      = 6,    // first drain cycle of a fold, minus t
    parameter DRAIN_END_I = 9,    // last drain cycle, minus t
    parameter LAST_I      = 9     // last cycle (done), minus t
) (
    input                          clk,
    input                          rst,
    input                          ld_en,
    input  [$clog2(DEPTH)-1:0]     ld_addr,
    input  [R*A_W-1:0]             ld_a,
    input  [C*B_W-1:0]             ld_b,
    input                          start,
    input  [$clog2(DEPTH):0]       t_len,
    output                         busy,
    output                         done,
    output                         feed_valid,
    output [R*A_W-1:0]             a_feed,
    output [C*B_W-1:0]             b_feed,
    output                         drain,
    output [$clog2(R > 1 ? R : 2)-1:0] drain_row
);
    localparam AW  = $clog2(DEPTH);
    localparam TW  = AW + 1;                          // t_len holds 0..DEPTH
    localparam RAW = $clog2(R > 1 ? R : 2);
    localparam CW  = $clog2(DEPTH + 2 * R + C) + 2;   // cycle counter, always wider than t_len
    wire [CW-1:0] fill_len  = FILL_I[CW-1:0];
    wire [CW-1:0] drain_off = DRAIN_END_I[CW-1:0];

    reg [R*A_W-1:0] a_buf [0:DEPTH-1];
    reg [C*B_W-1:0] b_buf [0:DEPTH-1];

    always @(posedge clk) begin
        if (ld_en) begin
            a_buf[ld_addr] <= ld_a;
            b_buf[ld_addr] <= ld_b;
        end
    end

    wire          launch;
    wire [CW-1:0] cyc, t_cur;
    fold_counter #(.TW(TW), .CW(CW), .LAST_I(LAST_I)) u_count (
        .clk(clk), .rst(rst), .start(start), .t_len(t_len),
        .launch(launch), .busy(busy), .done(done), .cyc(cyc), .t_cur(t_cur)
    );

    wire [CW-1:0] drain_from = t_cur + fill_len;
    wire [CW-1:0] drain_end  = t_cur + drain_off;
    wire [CW-1:0] row        = drain_end - cyc;       // R-1 on the first drain cycle, 0 on the last

    assign feed_valid = (busy | launch) & (cyc < t_cur);
    assign a_feed     = feed_valid ? a_buf[cyc[AW-1:0]] : {(R*A_W){1'b0}};
    assign b_feed     = feed_valid ? b_buf[cyc[AW-1:0]] : {(C*B_W){1'b0}};
    assign drain      = busy & (cyc >= drain_from) & (cyc <= drain_end);
    assign drain_row  = row[RAW-1:0];
endmodule
