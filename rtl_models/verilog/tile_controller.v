`timescale 1ns/1ps
// Tile controller: an INT8 GEMM C[M x N] = A[M x K] @ B[K x N] run tile by tile on one
// output-stationary R x C array (os_systolic_array.v, unchanged), with double-buffered A, B and
// C tile buffers and one shared DRAM port. The RTL twin of sim/memory.py (double buffered,
// Dram(shared=True)); sim/tile_controller.py gives its per-tile compute cycles and slot overhead.
// The buffers, the DRAM port and its bursts, the blocked address map, the slot schedule and the
// C-buffer accumulate are tile_slot_engine.v's (shared with tile_controller_ws.v); this file
// holds the tiles, the loop order and the compute of a tile.
//
// Tiles: loop order "mnk" (m outer, k inner), tile tm = R, tn = C, tk = tk_dim (1..KT); edge
// tiles hold what is left of M, N, K. T = ceil(M/R) * ceil(N/C) * ceil(K/tk) tile steps.
// Buffers: A tiles R x KT int8, B tiles KT x C int8, C tiles R x C int32. A C tile is accumulated
// across its k tiles in the C buffer, so no partial sum ever spills.
//
// DRAM port, address map and slot schedule: tile_slot_engine.v (slot s computes tile s-1 while
// the port fetches tile s and writes tile s-2's C; a slot lasts max(compute, DRAM) + 1 cycles).
// Start to done, both edges counted: sim/memory.py's total_cycles with slot_overhead = 1.
//
// Compute of one tile (k extent t), cycle n = the cycle after the slot's launch edge + n:
//   cycles 0 .. t-1:   k-slice n goes from the A/B buffer into the array's operand buffer
//                      (ld port), one slice ahead of its use;
//   cycle 1:           start (t_len = t): the array's fold starts on the next edge, streams
//                      slice j on its edge j and drains row R-1 .. 0 into its output buffer on
//                      the edges t+R+C-2 .. t+2R+C-3 of the fold (os_systolic_array.v);
//   cycles t+R+C .. t+2R+C-1: rd_addr = row R-1 .. 0, each just after it is written;
//   cycles t+R+C+1 .. t+2R+C: rd_data (registered) is added into the C buffer row (or written
//                      there when k = 0) on the edge ending the cycle.
// Compute cycles per tile, launch edge to the last accumulate edge, both counted:
// t + 2R + C + 1 (sim/tile_controller.py tile_compute_cycles). comp_busy is high for exactly
// those cycles, so a bench can measure compute and stall = total - compute.
/* verilator lint_off WIDTH */
module tile_controller #(
    parameter R   = 4,    // array rows (tile tm)
    parameter C   = 4,    // array columns (tile tn)
    parameter KT  = 16,   // largest k tile (tk_dim <= KT); the array's operand buffer depth
    parameter DBW = 16,   // DRAM data bus width in bytes (the most bytes per beat)
    parameter DW  = 16    // bits of M, N, K, tk
) (
    input                        clk, rst, start,
    input      [DW-1:0]          m_dim, n_dim, k_dim,
    input      [DW-1:0]          tk_dim,             // the k tile, sampled with start
    input      [31:0]            a_base, b_base, c_base,
    output                       busy, done, comp_busy,
    // the DRAM port (tile_slot_engine.v)
    output                       req_valid, req_write,
    output     [31:0]            req_addr, req_len,
    output     [8*DBW-1:0]       wr_data,
    input                        dv,
    input      [$clog2(DBW+1)-1:0] dn,
    input      [8*DBW-1:0]       rd_data
);
    localparam RAW = $clog2(R > 1 ? R : 2);
    localparam KAW = $clog2(KT);

    // ---------------------------------------------------------------- compute
    wire [31:0] ccyc;                      // cycle of the tile's compute (0: after the launch edge)
    wire [31:0] c_em, c_ek;                // the computed tile's m and k extents
    wire [31:0] rd0 = c_ek + R + C;        // cycle reading row R-1 of the array's output buffer
    wire [31:0] rd_i = ccyc - rd0;
    wire [31:0] acc_i = ccyc - rd0 - 1;
    wire        arr_ld_en = comp_busy && (ccyc < c_ek);
    wire        arr_start = comp_busy && (ccyc == 1);
    wire [RAW-1:0] arr_rd_addr = (ccyc >= rd0 && ccyc < rd0 + R) ? (R - 1 - rd_i) : 0;
    wire [31:0] acc_row = R - 1 - acc_i;
    wire        acc_now = (ccyc > rd0) && (ccyc <= rd0 + R);
    wire [R*8-1:0]  arr_ld_a;
    wire [C*8-1:0]  arr_ld_b;
    wire [C*32-1:0] arr_rd;
    wire arr_busy, arr_done;

    os_systolic_array #(.R(R), .C(C), .A_W(8), .B_W(8), .ACC_W(32), .DEPTH(KT)) u_array (
        .clk(clk), .rst(rst), .ld_en(arr_ld_en), .ld_addr(ccyc[KAW-1:0]), .ld_a(arr_ld_a), .ld_b(arr_ld_b),
        .start(arr_start), .t_len(c_ek[KAW:0]), .busy(arr_busy), .done(arr_done),
        .rd_addr(arr_rd_addr), .rd_data(arr_rd)
    );

    // tiles R x C x tk_dim, loop order "mnk"; operands by k-slice, the compute ends on cycle rd0 + R
    tile_slot_engine #(.MT(R), .KT(KT), .C(C), .TM_FIX(R), .TK_FIX(0), .N_OUTER(0), .A_K_SLICE(1),
                       .DBW(DBW), .DW(DW)) u_engine (
        .clk(clk), .rst(rst), .start(start), .m_dim(m_dim), .n_dim(n_dim), .k_dim(k_dim),
        .tm_dim({DW{1'b0}}), .tk_dim(tk_dim), .a_base(a_base), .b_base(b_base), .c_base(c_base),
        .busy(busy), .done(done), .comp_busy(comp_busy), .req_valid(req_valid), .req_write(req_write),
        .req_addr(req_addr), .req_len(req_len), .wr_data(wr_data), .dv(dv), .dn(dn), .rd_data(rd_data),
        .ccyc(ccyc), .c_em(c_em), .c_ek(c_ek), .comp_end(rd0 + R),
        .a_idx(ccyc), .a_slice(arr_ld_a), .b_row(ccyc), .b_slice(arr_ld_b),
        .acc_en(acc_now), .acc_row(acc_row), .acc_data(arr_rd)
    );
endmodule
/* verilator lint_on WIDTH */
