`timescale 1ns/1ps
// Input-stationary R x C INT8 GEMM systolic array (SCALE-Sim's third dataflow), C = A @ B with
// A (M x K) held stationary and B's N columns streaming through.
//
// Honest realisation: an IS array is physically a weight-stationary array whose stationary
// operand is the input. C^T = B^T @ A^T is a WS GEMM with "weights" A^T and "activations" B^T,
// so this top is ws_systolic_array (ws_systolic_array.v) instantiated with the operands swapped:
// its weight port takes A's tile, its activation port B's columns, its A_W / B_W are our B_W /
// A_W. No arithmetic or control of its own; what differs is the mapping the ports carry:
//   * array rows hold K (the reduction), array columns hold M (rows of A): PE (r, c) keeps
//     a[m0 + c][k0 + r] for the whole fold;
//   * stationary port (a_en, a_addr, a_data): a_addr = r = k - k0, a_data lane c = a[m0 + c][k0 + r];
//   * streamed port (b_en, b_addr, b_data): b_addr = n, b_data lane r = b[k0 + r][n], n = 0..t-1;
//   * start with t_len = t = N (and accumulate for every K-tile after the first) runs the fold;
//   * read-out: the array produces C^T tiles, so rd_addr is n (the streamed index, not m) and
//     rd_data lane c is C[m0 + c][n] (column c of the array gives row m0 + c of C), registered:
//     it shows rd_addr's row one cycle later. The bench transposes.
// Cycles from the start edge to done, both counted: WS's with t = N, 2R + C + N - 2 (PE_KIND 1,
// the OPT1 carry-save PE: 2R + C + N, its Booth digits taken of the streamed operand, B, which
// must then be 8 bits wide). sim/input_stationary.py's fold_cycles gives the same numbers.
module is_systolic_array #(
    parameter R       = 4,
    parameter C       = 4,
    parameter A_W     = 8,   // stationary operand (A)
    parameter B_W     = 8,   // streamed operand (B)
    parameter ACC_W   = 32,
    parameter DEPTH   = 16,  // streamed columns of B / rows of C^T the buffers hold
    parameter PE_KIND = 0    // 0: MAC PE; 1: OPT1 carry-save PE (needs B_W = 8)
) (
    input                              clk,
    input                              rst,
    input                              a_en,
    input      [$clog2(R > 1 ? R : 2)-1:0] a_addr,
    input      [C*A_W-1:0]             a_data,
    input                              b_en,
    input      [$clog2(DEPTH)-1:0]     b_addr,
    input      [R*B_W-1:0]             b_data,
    input                              start,
    input      [$clog2(DEPTH):0]       t_len,
    input                              accumulate,
    output                             busy,
    output                             done,
    input      [$clog2(DEPTH)-1:0]     rd_addr,
    output     [C*ACC_W-1:0]           rd_data
);
    ws_systolic_array #(
        .R(R), .C(C), .A_W(B_W), .B_W(A_W), .ACC_W(ACC_W), .DEPTH(DEPTH), .PE_KIND(PE_KIND)
    ) u_ws (
        .clk       (clk),
        .rst       (rst),
        .w_en      (a_en),      // A's tile is the stationary operand
        .w_addr    (a_addr),
        .w_data    (a_data),
        .a_en      (b_en),      // B's columns stream
        .a_addr    (b_addr),
        .a_data    (b_data),
        .start     (start),
        .t_len     (t_len),
        .accumulate(accumulate),
        .busy      (busy),
        .done      (done),
        .rd_addr   (rd_addr),
        .rd_data   (rd_data)
    );
endmodule
