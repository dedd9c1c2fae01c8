`timescale 1ns/1ps
// Output-stationary R x C array of FP8 MACs: C = A @ B with exact FP8 x FP8 -> FP32 products
// (fp8_mul.v) accumulated in FP32 in order k = 0..K-1 from +0, one IEEE round-to-nearest-even add
// each (fp32_add.v, single-cycle): every output equals the single MAC's (fp8_mac.v) dot product
// bit for bit. Operand formats FMT_A / FMT_B: 0 e4m3, 1 e5m2. The cycle model is
// sim/fp8_array.py (fold_cycles, simulate_fold_stepwise); the co-simulation holds this module's
// result bits and start->done cycles to it. Ports and protocol as os_systolic_array.v:
//
// One fold computes an R x C output tile over a reduction of length t (= K, 1..DEPTH):
//   1. the host writes t k-slices through the load port: ld_a = a[0..R-1][k], ld_b = b[k][0..C-1]
//      (FP8 codes, lane 0 in the low byte);
//   2. a one-cycle start (with t_len = t) launches the fold; the start edge is edge 0 of the
//      stream: the slice at address 0 enters the array on it;
//   3. k-slices leave the buffers one per cycle; skew_delay holds row i back i cycles and column
//      j back j cycles (the A lanes carry a valid bit). PE (i, j) multiplies a[i][k] * b[k][j]
//      into its product register on edge k + i + j and adds it to its accumulator on edge
//      k + i + j + 1; PE (R-1, C-1) adds its last product on edge t + R + C - 2;
//   4. drain: for R edges the accumulators shift down their columns one row per edge and the
//      bottom row is written into the output buffer (row R-1 first); +0 shifts in from the top,
//      leaving every accumulator +0 for the next fold. done pulses with the last write.
// Start edge to done, both counted: (t + R + C - 1) + R = 2R + C + t - 1.
// The output buffer is read through a registered port: rd_data shows row rd_addr one cycle later
// (lane j = column j, FP32 bits, at rd_data[j*32 +: 32]).

// One PE: operand hop (a right, b down), registered exact product, single-cycle FP32 accumulate.
// Registers are written only with valid data (a_v_in); drain loads the accumulator from above.
module fp8_os_pe #(
    parameter FMT_A = 0,
    parameter FMT_B = 0
) (
    input             clk,
    input             rst,
    input             drain,
    input      [7:0]  a_in,
    input             a_v_in,
    input      [7:0]  b_in,
    input      [31:0] acc_in,
    output reg [7:0]  a_out,
    output reg        a_v_out,
    output reg [7:0]  b_out,
    output reg [31:0] acc_out
);
    reg  [31:0] p_q;
    reg         p_v;
    wire [31:0] prod, sum;

    fp8_mul #(.FMT_A(FMT_A), .FMT_B(FMT_B)) u_mul (.a(a_in), .b(b_in), .p(prod));
    fp32_add u_add (.a(acc_out), .b(p_q), .s(sum));

    always @(posedge clk) begin
        if (rst) begin
            a_v_out <= 1'b0;
            p_v     <= 1'b0;
            acc_out <= 32'd0;   // +0
        end else begin
            a_v_out <= a_v_in;
            p_v     <= a_v_in;
            if (a_v_in) begin
                a_out <= a_in;
                b_out <= b_in;
                p_q   <= prod;
            end
            if (drain)
                acc_out <= acc_in;
            else if (p_v)
                acc_out <= sum;
        end
    end
endmodule

module fp8_os_array #(
    parameter R     = 2,
    parameter C     = 2,
    parameter FMT_A = 0,
    parameter FMT_B = 0,
    parameter DEPTH = 16
) (
    input                              clk,
    input                              rst,
    input                              ld_en,
    input      [$clog2(DEPTH)-1:0]     ld_addr,
    input      [R*8-1:0]               ld_a,
    input      [C*8-1:0]               ld_b,
    input                              start,
    input      [$clog2(DEPTH):0]       t_len,
    output                             busy,
    output                             done,
    input      [$clog2(R > 1 ? R : 2)-1:0] rd_addr,
    output reg [C*32-1:0]              rd_data
);
    localparam RAW = $clog2(R > 1 ? R : 2);
    localparam integer FILL_I = R + C - 1;            // first drain edge, minus t
    localparam integer LAST_I = 2 * R + C - 2;        // last drain edge (done), minus t

    reg [C*32-1:0] out_buf [0:R-1];

    // operand buffers, edge counter, feed and drain windows, done (os_fold_ctrl.v): the drain
    // starts one edge later than the INT8 array's (the product register) and ends with done
    wire           feed_valid, drain;
    wire [RAW-1:0] drain_row;
    wire [R*8-1:0] a_slice;
    wire [C*8-1:0] b_feed;

    os_fold_ctrl #(.R(R), .C(C), .A_W(8), .B_W(8), .DEPTH(DEPTH),
                   .FILL_I(FILL_I), .DRAIN_END_I(LAST_I), .LAST_I(LAST_I)) u_ctrl (
        .clk(clk), .rst(rst), .ld_en(ld_en), .ld_addr(ld_addr), .ld_a(ld_a), .ld_b(ld_b),
        .start(start), .t_len(t_len), .busy(busy), .done(done),
        .feed_valid(feed_valid), .a_feed(a_slice), .b_feed(b_feed), .drain(drain), .drain_row(drain_row)
    );

    // operand edges: one k-slice per cycle (zeros outside the stream), then the skew; each A
    // lane is {valid, code}
    wire [R*9-1:0] a_feed;
    wire [R*9-1:0] a_edge;
    wire [C*8-1:0] b_edge;

    genvar i, j;
    generate
        for (i = 0; i < R; i = i + 1) begin : g_a_feed
            assign a_feed[i*9 +: 9] = {feed_valid, a_slice[i*8 +: 8]};
        end
    endgenerate

    skew_delay #(.LANES(R), .W(9)) u_skew_a (.clk(clk), .rst(rst), .din(a_feed), .dout(a_edge));
    skew_delay #(.LANES(C), .W(8)) u_skew_b (.clk(clk), .rst(rst), .din(b_feed), .dout(b_edge));

    // a_link / av_link: R rows x (C+1) hops; b_link and acc_link: (R+1) hops x C columns (net
    // arrays, one element per hop: see os_systolic_array.v for why not one flat vector)
    wire [7:0]  a_link   [0:R*(C+1)-1];
    wire        av_link  [0:R*(C+1)-1];
    wire [7:0]  b_link   [0:(R+1)*C-1];
    wire [31:0] acc_link [0:(R+1)*C-1];
    wire [C*32-1:0] bottom;   // the bottom row's accumulators, drained into the output buffer

    generate
        for (i = 0; i < R; i = i + 1) begin : g_a_edge
            assign a_link[i*(C+1)]  = a_edge[i*9 +: 8];
            assign av_link[i*(C+1)] = a_edge[i*9 + 8];
        end
        for (j = 0; j < C; j = j + 1) begin : g_b_edge
            assign b_link[j]   = b_edge[j*8 +: 8];
            assign acc_link[j] = 32'd0;   // drained into row 0: +0
            assign bottom[j*32 +: 32] = acc_link[R*C+j];
        end
        for (i = 0; i < R; i = i + 1) begin : g_row
            for (j = 0; j < C; j = j + 1) begin : g_col
                fp8_os_pe #(.FMT_A(FMT_A), .FMT_B(FMT_B)) u_pe (
                    .clk    (clk),
                    .rst    (rst),
                    .drain  (drain),
                    .a_in   (a_link[i*(C+1)+j]),
                    .a_v_in (av_link[i*(C+1)+j]),
                    .b_in   (b_link[i*C+j]),
                    .acc_in (acc_link[i*C+j]),
                    .a_out  (a_link[i*(C+1)+j+1]),
                    .a_v_out(av_link[i*(C+1)+j+1]),
                    .b_out  (b_link[(i+1)*C+j]),
                    .acc_out(acc_link[(i+1)*C+j])
                );
            end
        end
    endgenerate

    always @(posedge clk) begin
        if (drain)
            out_buf[drain_row] <= bottom;
        rd_data <= out_buf[rd_addr];
    end
endmodule
