`timescale 1ns/1ps
// Fully parallel, fully pipelined fast Walsh-Hadamard transform: y = H_N x (unnormalised,
// Sylvester / natural order), N = 2^L lanes, signed W-bit inputs, exact (W+L)-bit outputs.
//
// Stage s (s = 0..L-1) is a row of N/2 butterflies followed by a register: element i (bit s of
// i clear) and element i + 2^s become their sum (at i) and difference (at i + 2^s), one bit
// wider than their inputs (W+s+1 bits). After the last stage the result is in natural order.
// One vector enters per clock (in_valid with in_data, lane i at bits [i*W +: W]) and leaves L
// clocks later (out_valid with out_data, lane i at [i*(W+L) +: W+L]); no back-pressure.
// A valid bit travels beside each stage's register and clock-gates it (data registers are
// written only when they take a vector, and are not reset).
// Cycles of B vectors streamed back to back, from the edge that samples the first in_valid to
// the edge after which the last out_valid is high, both counted: L + B - 1
// (sim/hadamard.py's batch_cycles).
//
// Elements travel between stages on a net array, one element per net, not on flat vectors read
// by part-selects: a simulator re-evaluates every reader of a vector when any bit of it changes.
module fwht_bfly_pe #(
    parameter W = 8       // input width; outputs are W+1 bits
) (
    input                  clk,
    input                  en,
    input      [W-1:0]     a,
    input      [W-1:0]     b,
    output reg [W:0]       sum,
    output reg [W:0]       diff
);
    // sign-extend both operands by one bit: the sum and difference of two W-bit signed values
    // always fit W+1 bits
    wire [W:0] a_x = {a[W-1], a};
    wire [W:0] b_x = {b[W-1], b};

    always @(posedge clk) begin
        if (en) begin
            sum  <= a_x + b_x;
            diff <= a_x - b_x;
        end
    end
endmodule

module fwht_butterfly #(
    parameter N = 8,      // transform length, a power of two >= 2
    parameter W = 8       // signed input width
) (
    input                            clk,
    input                            rst,
    input                            in_valid,
    input      [N*W-1:0]             in_data,
    output                           out_valid,
    output     [N*(W+$clog2(N))-1:0] out_data
);
    localparam L  = $clog2(N);
    localparam OW = W + L;

    // node[s*N + i]: element i entering stage s (s = L: the outputs), sign-extended to OW bits
    wire [OW-1:0] node [0:(L+1)*N-1];
    wire [L-1:0]  stage_en;   // stage s takes a vector on this edge
    reg  [L-1:0]  valid_q;    // stage s's register holds a vector

    integer k;
    always @(posedge clk) begin
        if (rst) begin
            valid_q <= {L{1'b0}};
        end else begin
            for (k = 0; k < L; k = k + 1)
                valid_q[k] <= stage_en[k];
        end
    end
    assign out_valid = valid_q[L-1];

    genvar s, i;
    generate
        for (i = 0; i < N; i = i + 1) begin : g_in
            assign node[i] = {{L{in_data[i*W+W-1]}}, in_data[i*W +: W]};
            assign out_data[i*OW +: OW] = node[L*N+i];
        end
        for (s = 0; s < L; s = s + 1) begin : g_stage
            if (s == 0) begin : g_en0
                assign stage_en[0] = in_valid;
            end else begin : g_en
                assign stage_en[s] = valid_q[s-1];
            end
            for (i = 0; i < N; i = i + 1) begin : g_lane
                if (((i >> s) & 1) == 0) begin : g_bfly
                    // stage s's inputs are W+s bits wide: the low bits of the sign-extended nets
                    wire [W+s-1:0] a_in = node[s*N+i][W+s-1:0];
                    wire [W+s-1:0] b_in = node[s*N+i+(1<<s)][W+s-1:0];
                    wire [W+s:0]   sum_q;
                    wire [W+s:0]   diff_q;
                    fwht_bfly_pe #(.W(W+s)) u_pe (
                        .clk (clk),
                        .en  (stage_en[s]),
                        .a   (a_in),
                        .b   (b_in),
                        .sum (sum_q),
                        .diff(diff_q)
                    );
                    if (s == L - 1) begin : g_last
                        assign node[(s+1)*N+i]        = sum_q;
                        assign node[(s+1)*N+i+(1<<s)] = diff_q;
                    end else begin : g_ext
                        assign node[(s+1)*N+i]        = {{(L-1-s){sum_q[W+s]}}, sum_q};
                        assign node[(s+1)*N+i+(1<<s)] = {{(L-1-s){diff_q[W+s]}}, diff_q};
                    end
                end
            end
        end
    endgenerate
endmodule
