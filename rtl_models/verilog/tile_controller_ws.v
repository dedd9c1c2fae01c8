`timescale 1ns/1ps
// Tile controller, weight-stationary: an INT8 GEMM C[M x N] = A[M x K] @ B[K x N] run tile by
// tile on one weight-stationary R x C array (ws_systolic_array.v, unchanged), with
// double-buffered A, B and C tile buffers and one shared DRAM port. The WS twin of
// tile_controller.v (the output-stationary one): both are built on tile_slot_engine.v (the
// buffers, the DRAM port and its bursts, the blocked address map, the slot schedule and the
// C-buffer accumulate); this file holds the tiles, the loop order and the compute of a tile.
// sim/tile_controller.py (predict_ws) gives its per-tile compute cycles and slot overhead to
// sim/memory.py.
//
// Tiles: loop order "nmk" (n outer, then m, k inner), tile tk = R (one weight fold: R rows of K
// by C columns of N), tn = C, tm = tm_dim (1..TM) activation rows streamed through the fold;
// edge tiles hold what is left of M, N, K. T = ceil(N/C) * ceil(M/tm) * ceil(K/R) tile steps.
// Buffers: A tiles TM x R int8, B tiles R x C int8, C tiles TM x C int32. A tile step fetches A
// when (m, k) changes, B when (k, n) changes (with K <= R the weight tile stays while the M
// chunks stream); C is accumulated across the k tiles in the C buffer, k being the innermost
// loop, so no partial sum ever spills.
//
// DRAM port, address map and slot schedule: tile_slot_engine.v (slot s computes tile s-1 while
// the port fetches tile s and writes tile s-2's C; a slot lasts max(compute, DRAM) + 1 cycles).
//
// Compute of one tile (m extent t, k extent ek, n extent en), cycle n = the cycle after the
// slot's launch edge + n; the array's fold starts on the edge ending cycle 1 (its cycle 0):
//   cycles 0 .. R-1:   weight row R-1-n (zero beyond ek rows / en columns) goes from the B
//                      buffer into the array's weight buffer (w port), each just before the
//                      fold shifts it in (row R-1-i on the fold's edge i);
//   cycles 0 .. t-1:   activation row n (lanes beyond ek zero) goes from the A buffer into the
//                      array's activation buffer (a port), ahead of its use on fold edge R + n;
//   cycle 1:           start (t_len = t, accumulate = 0); the fold writes row m of its output
//                      buffer, column c on its edge 2R-1+m+c, so row m is whole after the
//                      launch edge + 2R+C+m (ws_systolic_array.v);
//   cycles 2R+C .. 2R+C+t-1: rd_addr = row 0 .. t-1, each just after it is whole;
//   cycles 2R+C+1 .. 2R+C+t: rd_data (registered) is added into the C buffer row (or written
//                      there when k = 0) on the edge ending the cycle.
// Compute cycles per tile, the cycles comp_busy is high: t + 2R + C + 1 (the array's fold
// 2R + C + t - 2, plus one cycle before its start, its registered read port and the
// read-modify-write into the C buffer); sim/tile_controller.py ws_tile_compute_cycles.
/* verilator lint_off WIDTH */
module tile_controller_ws #(
    parameter R   = 4,    // array rows (tile tk)
    parameter C   = 4,    // array columns (tile tn)
    parameter TM  = 16,   // largest m tile (tm_dim <= TM); the array's activation/output buffer depth
    parameter DBW = 16,   // DRAM data bus width in bytes (the most bytes per beat)
    parameter DW  = 16    // bits of M, N, K, tm
) (
    input                        clk, rst, start,
    input      [DW-1:0]          m_dim, n_dim, k_dim,
    input      [DW-1:0]          tm_dim,             // the m tile, sampled with start
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
    localparam TAW = $clog2(TM);

    // ---------------------------------------------------------------- compute
    wire [31:0] ccyc;                      // cycle of the tile's compute (0: after the launch edge)
    wire [31:0] c_em, c_ek;                // the computed tile's m and k extents
    localparam integer RD0 = 2 * R + C;    // cycle reading row 0 of the array's output buffer
    wire [31:0] rd_i  = ccyc - RD0;
    wire [31:0] acc_i = ccyc - RD0 - 1;
    wire [31:0] w_row = R - 1 - ccyc;      // weight row written this cycle (while ccyc < R)
    wire        arr_w_en  = comp_busy && (ccyc < R);
    wire        arr_a_en  = comp_busy && (ccyc < c_em);
    wire        arr_start = comp_busy && (ccyc == 1);
    wire [TAW-1:0] arr_rd_addr = (ccyc >= RD0 && ccyc < RD0 + c_em) ? rd_i : 0;
    wire        acc_now = (ccyc > RD0) && (ccyc <= RD0 + c_em);
    wire [R*8-1:0]  arr_a_data;
    wire [C*8-1:0]  arr_w_data;
    wire [C*32-1:0] arr_rd;
    wire arr_busy, arr_done;

    ws_systolic_array #(.R(R), .C(C), .A_W(8), .B_W(8), .ACC_W(32), .DEPTH(TM)) u_array (
        .clk(clk), .rst(rst), .w_en(arr_w_en), .w_addr(w_row[RAW-1:0]), .w_data(arr_w_data),
        .a_en(arr_a_en), .a_addr(ccyc[TAW-1:0]), .a_data(arr_a_data),
        .start(arr_start), .t_len(c_em[TAW:0]), .accumulate(1'b0), .busy(arr_busy), .done(arr_done),
        .rd_addr(arr_rd_addr), .rd_data(arr_rd)
    );

    // tiles tm_dim x C x R, loop order "nmk"; activations by m-row, weights by k row (zero beyond
    // the tile's k extent); the compute ends on cycle RD0 + c_em
    tile_slot_engine #(.MT(TM), .KT(R), .C(C), .TM_FIX(0), .TK_FIX(R), .N_OUTER(1), .A_K_SLICE(0),
                       .DBW(DBW), .DW(DW)) u_engine (
        .clk(clk), .rst(rst), .start(start), .m_dim(m_dim), .n_dim(n_dim), .k_dim(k_dim),
        .tm_dim(tm_dim), .tk_dim({DW{1'b0}}), .a_base(a_base), .b_base(b_base), .c_base(c_base),
        .busy(busy), .done(done), .comp_busy(comp_busy), .req_valid(req_valid), .req_write(req_write),
        .req_addr(req_addr), .req_len(req_len), .wr_data(wr_data), .dv(dv), .dn(dn), .rd_data(rd_data),
        .ccyc(ccyc), .c_em(c_em), .c_ek(c_ek), .comp_end(RD0 + c_em),
        .a_idx(ccyc), .a_slice(arr_a_data), .b_row(w_row), .b_slice(arr_w_data),
        .acc_en(acc_now), .acc_row(acc_i), .acc_data(arr_rd)
    );
endmodule
/* verilator lint_on WIDTH */
