`timescale 1ns/1ps
// systolic_host with its own clock, for a cocotb bench that needs no clock edge from Python: the
// bench drives reset and go between edges it waits for, then waits for done_h alone, and the
// simulator runs the workload's edges by itself (cocotb's clock is a VPI callback per edge: the
// host ran a BERT-base FFN layer at 62% of the simulator's own speed that way). Verilator builds it
// with --timing (rtl_models/cosim.py: the binding's timing flag).
//
// Bench code, never synthesised: the clock is a delay loop, left out where SYNTHESIS is defined
// (yosys defines it; a synthesis tool reading every file sees an undriven clock).
module systolic_host_clocked #(
    parameter DATAFLOW = 0,
    parameter R       = 4,
    parameter C       = 4,
    parameter A_W     = 8,
    parameter B_W     = 8,
    parameter ACC_W   = 32,
    parameter DEPTH   = 16,
    parameter PE_KIND = 0,
    parameter A_AW    = 16,
    parameter B_AW    = 16,
    parameter C_AW    = 14,
    parameter F_AW    = 12,
    parameter HALF_NS = 5     // half the clock period (rtl_models/benches/common.py's CLOCK_NS / 2)
) (
    output reg        clk,
    input             rst,
    input             go,
    input      [31:0] n_a,
    input      [31:0] n_b,
    input      [31:0] n_folds,
    input      [31:0] n_c,
    output            busy_h,
    output            done_h,
    output     [31:0] folds_run
);
`ifndef SYNTHESIS
    initial clk = 1'b0;
    always #(HALF_NS) clk = ~clk;
`endif

    systolic_host #(.DATAFLOW(DATAFLOW), .R(R), .C(C), .A_W(A_W), .B_W(B_W), .ACC_W(ACC_W), .DEPTH(DEPTH),
                    .PE_KIND(PE_KIND), .A_AW(A_AW), .B_AW(B_AW), .C_AW(C_AW), .F_AW(F_AW)) u_host (
        .clk(clk), .rst(rst), .go(go), .n_a(n_a), .n_b(n_b), .n_folds(n_folds), .n_c(n_c),
        .busy_h(busy_h), .done_h(done_h), .folds_run(folds_run)
    );
endmodule
