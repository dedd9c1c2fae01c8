`timescale 1ns/1ps
// FP8 dot-product unit: sum_k a[k] * b[k] with exact FP8 x FP8 -> FP32 products (fp8_mul.v)
// accumulated in FP32 in order k = 0..K-1, one IEEE round-to-nearest-even add each
// (fp32_add.v), starting from +0. The cycle model is sim/fp8.py (simulate_dot); the
// co-simulation holds this module's result bits and start->done cycles to it.
//
// Operand buffer, written by the host before start: ld_en writes abuf[ld_addr] = ld_a and
// bbuf[ld_addr] = ld_b (FP8 codes, formats FMT_A / FMT_B: 0 e4m3, 1 e5m2).
//
// Pipeline, one MAC issued per clock:
//   read      a_q, b_q <= abuf[k], bbuf[k]
//   multiply  p_q <= a_q * b_q              (exact, combinational)
//   add       acc <= acc + p_q              (single-cycle adder: the loop-carried add costs
//                                            nothing, and the order is the sequential one)
// The edge that samples start (with k_len = K >= 1; K = 0 is not supported) reads element 0 and
// clears acc; element k is read on edge k+1, multiplied on edge k+2, added on edge k+3; done rises
// (for one cycle) on the edge that adds element K-1, with the sum in result. Start edge to done
// edge, both counted: K + 2 cycles. Registers are clock-gated (written only with valid data).
module fp8_mac #(
    parameter FMT_A = 0,
    parameter FMT_B = 0,
    parameter AW    = 6     // operand buffer address bits (2^AW elements)
) (
    input             clk,
    input             rst,
    input             ld_en,
    input  [AW-1:0]   ld_addr,
    input  [7:0]      ld_a,
    input  [7:0]      ld_b,
    input             start,
    input  [AW:0]     k_len,     // K, 1..2^AW
    output reg        busy,
    output reg        done,
    output [31:0]     result
);
    reg [7:0] abuf [0:(1<<AW)-1];
    reg [7:0] bbuf [0:(1<<AW)-1];

    always @(posedge clk) begin
        if (ld_en) begin
            abuf[ld_addr] <= ld_a;
            bbuf[ld_addr] <= ld_b;
        end
    end

    reg [AW:0]  k_q;      // K, latched at start
    reg [AW:0]  rd_i;     // next element to read
    reg         rd_v;     // a_q, b_q hold an element
    reg         p_v;      // p_q holds a product
    reg         last_rd;  // a_q, b_q hold element K-1
    reg         last_p;   // p_q holds the product of element K-1
    reg [7:0]   a_q, b_q;
    reg [31:0]  p_q, acc;
    wire [31:0] prod, sum;

    fp8_mul #(.FMT_A(FMT_A), .FMT_B(FMT_B)) u_mul (.a(a_q), .b(b_q), .p(prod));
    fp32_add u_add (.a(acc), .b(p_q), .s(sum));

    wire launch  = start & ~busy;
    // read element rd_i on this edge: the start edge reads element 0
    wire rd_en   = launch | (busy & (rd_i < k_q));
    wire [AW:0] rd_addr = launch ? {(AW+1){1'b0}} : rd_i;
    wire [AW:0] k_now   = launch ? k_len : k_q;

    assign result = acc;

    always @(posedge clk) begin
        if (rst) begin
            busy <= 1'b0;
            done <= 1'b0;
            rd_v <= 1'b0;
            p_v  <= 1'b0;
            last_rd <= 1'b0;
            last_p  <= 1'b0;
        end else begin
            done <= 1'b0;
            if (launch) begin
                busy <= 1'b1;
                k_q  <= k_len;
                acc  <= 32'd0;      // +0
            end else if (p_v) begin
                acc <= sum;
            end
            // read stage
            rd_v <= rd_en;
            if (rd_en) begin
                a_q     <= abuf[rd_addr[AW-1:0]];
                b_q     <= bbuf[rd_addr[AW-1:0]];
                rd_i    <= rd_addr + 1'b1;
                last_rd <= (rd_addr + 1'b1) == k_now;
            end else begin
                last_rd <= 1'b0;
            end
            // multiply stage
            p_v    <= rd_v;
            last_p <= rd_v & last_rd;
            if (rd_v)
                p_q <= prod;
            // add stage: the last product is added on this edge
            if (p_v & last_p) begin
                busy <= 1'b0;
                done <= 1'b1;
            end
        end
    end
endmodule
