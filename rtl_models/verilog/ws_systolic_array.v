`timescale 1ns/1ps
// Weight-stationary R x C INT8 GEMM systolic array with weight, activation and output buffers.
//
// One fold multiplies t (= M) activation rows by one R x C weight tile b[k0:k0+R, n0:n0+C]:
//   1. the host writes the weight tile through the weight port (w_addr = row r = k - k0,
//      w_data = b[k][n0..n0+C-1]) and the t activation rows through the activation port
//      (a_addr = m, a_data = a[m][k0..k0+R-1]); lane 0 in the low bits;
//   2. a one-cycle start (with t_len = t and accumulate) launches the fold. The start edge is
//      already the first cycle: it shifts weight row R-1 into the top row of PEs;
//   3. cycles 0..R-1: the weights shift down one row per cycle until PE row r holds row r;
//   4. cycles R..R+t-1: activation rows leave the buffer one per cycle; skew_delay holds lane r
//      back r cycles, so PE (r, c) sees a[m][r] on cycle R + m + r + c, adds its product to the
//      partial sum registered by the PE above and passes the sum down;
//   5. the bottom row's sums go straight into the output buffer (the buffer write is that row's
//      register): column c writes row m on cycle 2R - 1 + m + c, overwriting, or adding to what
//      is there when accumulate was set at start. done pulses with the last write (m = t-1,
//      c = C-1).
// Cycles from the start edge to done, both counted: R + (t + R + C - 2) = 2R + C + t - 2,
// the per-fold formula of SCALE-Sim and of sim/systolic.py's fold_cycles.
// The output buffer is read through a registered port: rd_data shows row rd_addr one cycle later.
//
// PE_KIND 1 (the TPE paper's OPT1, ws_csa_pe): partial sums travel down the columns as (sum,
// carry) pairs and the bottom row registers its pair too; below it, per column, one 3:2 layer
// folds in the buffer's old value (accumulate), the low half is added on the next clock and the
// high half with its carry on the one after, as the buffer write: 2R + C + t cycles per fold,
// two more than the MAC PE's, and no carry chain longer than half a word in any clock.
module ws_systolic_array #(
    parameter R     = 4,
    parameter C     = 4,
    parameter A_W   = 8,
    parameter B_W   = 8,
    parameter ACC_W = 32,
    parameter DEPTH = 16,
    parameter PE_KIND = 0   // 0: ws_mac_pe; 1: ws_csa_pe (OPT1, (sum, carry) partial sums)
) (
    input                              clk,
    input                              rst,
    input                              w_en,
    input      [$clog2(R > 1 ? R : 2)-1:0] w_addr,
    input      [C*B_W-1:0]             w_data,
    input                              a_en,
    input      [$clog2(DEPTH)-1:0]     a_addr,
    input      [R*A_W-1:0]             a_data,
    input                              start,
    input      [$clog2(DEPTH):0]       t_len,
    input                              accumulate,
    output                             busy,
    output                             done,
    input      [$clog2(DEPTH)-1:0]     rd_addr,
    output     [C*ACC_W-1:0]           rd_data
);
    localparam AW  = $clog2(DEPTH);
    localparam TW  = AW + 1;                          // t_len holds 0..DEPTH
    localparam RAW = $clog2(R > 1 ? R : 2);
    localparam CW  = $clog2(DEPTH + 2 * R + C) + 2;   // cycle counter, always wider than t_len
    localparam integer RO     = (PE_KIND == 1) ? 2 : 0; // read-out pipeline of the OPT1 PE
    localparam integer LAST_I = 2 * R + C - 3 + RO;   // last cycle index of a fold, minus t
    localparam integer R_I    = R;
    wire [CW-1:0] rows_n = R_I[CW-1:0];

    reg [C*B_W-1:0] w_buf [0:R-1];
    reg [R*A_W-1:0] a_buf [0:DEPTH-1];

    // start/busy/done and the cycle index within the fold (os_fold_ctrl.v); t_ext is the fold's t
    wire          launch;
    wire [CW-1:0] cyc, t_ext;
    reg           acc_q;
    fold_counter #(.TW(TW), .CW(CW), .LAST_I(LAST_I)) u_count (
        .clk(clk), .rst(rst), .start(start), .t_len(t_len),
        .launch(launch), .busy(busy), .done(done), .cyc(cyc), .t_cur(t_ext)
    );

    wire          w_load   = (busy | launch) & (cyc < rows_n);
    wire [CW-1:0] w_row    = rows_n - 1'b1 - cyc;        // weight row R-1 first
    wire [CW-1:0] m_feed   = cyc - rows_n;               // activation row entering this cycle
    wire          a_valid  = busy & (cyc >= rows_n) & (m_feed < t_ext);

    always @(posedge clk) begin
        if (w_en)
            w_buf[w_addr] <= w_data;
        if (a_en)
            a_buf[a_addr] <= a_data;
    end

    always @(posedge clk) begin
        if (rst)
            acc_q <= 1'b0;
        else if (launch)
            acc_q <= accumulate;
    end

    wire [C*B_W-1:0] w_feed = w_load ? w_buf[w_row[RAW-1:0]] : {(C*B_W){1'b0}};
    wire [R*A_W-1:0] a_feed = a_valid ? a_buf[m_feed[AW-1:0]] : {(R*A_W){1'b0}};
    wire [R*A_W-1:0] a_edge;

    skew_delay #(.LANES(R), .W(A_W)) u_skew_a (.clk(clk), .rst(rst), .din(a_feed), .dout(a_edge));

    // a_link: R rows x (C+1) hops; w_link: (R+1) hops x C columns; p_link: the registered
    // partial sums entering rows 0..R-1 (row 0's are zero). Net arrays, one element per hop,
    // not one flat vector: a simulator re-evaluates every reader of a vector when any bit of
    // it changes, which made a 16x16 array ~200x slower on Icarus. The bottom row's
    // combinational sums get an array of their own (sharing p_link would look like a loop).
    wire [A_W-1:0]   a_link     [0:R*(C+1)-1];
    wire [B_W-1:0]   w_link     [0:(R+1)*C-1];
    wire [ACC_W-1:0] p_link     [0:R*C-1];
    wire [ACC_W-1:0] q_link     [0:R*C-1];   // carry words (OPT1 only)
    wire [ACC_W-1:0] bottom_sum [0:C-1];
    wire [ACC_W-1:0] bottom_car [0:C-1];

    genvar r, c;
    generate
        for (r = 0; r < R; r = r + 1) begin : g_a_edge
            assign a_link[r*(C+1)] = a_edge[r*A_W +: A_W];
        end
        for (c = 0; c < C; c = c + 1) begin : g_top
            assign w_link[c] = w_feed[c*B_W +: B_W];
            assign p_link[c] = {ACC_W{1'b0}};   // nothing above row 0
            assign q_link[c] = {ACC_W{1'b0}};
        end
        for (r = 0; r < R; r = r + 1) begin : g_row
            for (c = 0; c < C; c = c + 1) begin : g_col
                wire [ACC_W-1:0] pe_psum, pe_pcar;
                if (PE_KIND == 1) begin : g_csa
                    ws_csa_pe #(.A_W(A_W), .B_W(B_W), .ACC_W(ACC_W), .REG_PSUM(1)) u_pe (
                        .clk      (clk),
                        .rst      (rst),
                        .w_load   (w_load),
                        .w_in     (w_link[r*C+c]),
                        .w_out    (w_link[(r+1)*C+c]),
                        .a_in     (a_link[r*(C+1)+c]),
                        .a_out    (a_link[r*(C+1)+c+1]),
                        .sum_in   (p_link[r*C+c]),
                        .carry_in (q_link[r*C+c]),
                        .sum_out  (pe_psum),
                        .carry_out(pe_pcar)
                    );
                end else begin : g_mac
                    ws_mac_pe #(.A_W(A_W), .B_W(B_W), .ACC_W(ACC_W), .REG_PSUM(r < R - 1)) u_pe (
                        .clk     (clk),
                        .rst     (rst),
                        .w_load  (w_load),
                        .w_in    (w_link[r*C+c]),
                        .w_out   (w_link[(r+1)*C+c]),
                        .a_in    (a_link[r*(C+1)+c]),
                        .a_out   (a_link[r*(C+1)+c+1]),
                        .psum_in (p_link[r*C+c]),
                        .psum_out(pe_psum)
                    );
                    assign pe_pcar = {ACC_W{1'b0}};
                end
                if (r < R - 1) begin : g_down
                    assign p_link[(r+1)*C+c] = pe_psum;
                    assign q_link[(r+1)*C+c] = pe_pcar;
                end else begin : g_bottom
                    assign bottom_sum[c] = pe_psum;
                    assign bottom_car[c] = pe_pcar;
                end
            end
        end
        // output buffer: one memory per column, since column c's results arrive c cycles after
        // column 0's (the skew), each at its own row address
        for (c = 0; c < C; c = c + 1) begin : g_out
            localparam integer OFFSET_I = 2 * R - 1 + c + RO;
            wire [CW-1:0]    offset = OFFSET_I[CW-1:0];
            reg  [ACC_W-1:0] mem [0:DEPTH-1];
            reg  [ACC_W-1:0] rd_q;
            wire [CW-1:0]    m_out = cyc - offset;
            wire             we    = busy & (cyc >= offset) & (m_out < t_ext);
            if (PE_KIND == 1) begin : g_csa_out
                // stage B (the clock before the write): the bottom pair, 3:2 with the old value when
                // accumulating, then the low half added; stage C: the high half with its carry
                localparam integer H = ACC_W / 2;
                wire [CW-1:0]    m_b  = cyc - (offset - 1'b1);
                wire             en_b = busy & (cyc >= offset - 1'b1) & (m_b < t_ext);
                wire [ACC_W-1:0] old  = acc_q ? mem[m_b[AW-1:0]] : {ACC_W{1'b0}};
                wire [ACC_W-1:0] x    = bottom_sum[c];
                wire [ACC_W-1:0] y    = bottom_car[c];
                wire [ACC_W-1:0] s3   = x ^ y ^ old;
                wire [ACC_W-1:0] m3   = (x & y) | (x & old) | (y & old);
                wire [ACC_W-1:0] c3   = {m3[ACC_W-2:0], 1'b0};
                reg  [H:0]       lo_q;
                reg  [ACC_W-H-1:0] sh_q, ch_q;
                always @(posedge clk) begin
                    if (en_b) begin
                        lo_q <= {1'b0, s3[H-1:0]} + {1'b0, c3[H-1:0]};
                        sh_q <= s3[ACC_W-1:H];
                        ch_q <= c3[ACC_W-1:H];
                    end
                    if (we)
                        mem[m_out[AW-1:0]] <= {sh_q + ch_q + {{(ACC_W-H-1){1'b0}}, lo_q[H]}, lo_q[H-1:0]};
                    rd_q <= mem[rd_addr];
                end
            end else begin : g_mac_out
                wire [ACC_W-1:0] sum = bottom_sum[c];
                always @(posedge clk) begin
                    if (we)
                        mem[m_out[AW-1:0]] <= acc_q ? mem[m_out[AW-1:0]] + sum : sum;
                    rd_q <= mem[rd_addr];
                end
            end
            assign rd_data[c*ACC_W +: ACC_W] = rd_q;
        end
    endgenerate
endmodule
