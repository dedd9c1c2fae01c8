`timescale 1ns/1ps
// Tile slot engine: what the tile controllers (tile_controller.v, output-stationary;
// tile_controller_ws.v, weight-stationary) share. An INT8 GEMM C[M x N] = A[M x K] @ B[K x N] run
// tile by tile: the double-buffered A, B and C tile buffers, the tile descriptors, the slot
// schedule, the one shared DRAM port with its burst engine, and the C-buffer accumulate. The
// controller around it holds the array and sequences a tile's compute: it reads operands through
// the A and B read ports, accumulates the array's results through the C port and says on which
// compute cycle the tile's compute ends (comp_end). The RTL twin of sim/memory.py (double
// buffered, Dram(shared=True)); sim/tile_controller.py gives the per-tile compute cycles.
//
// Tiles tm x C x tk: tm = TM_FIX, or the tm_dim input when TM_FIX = 0 (1..MT); tk = TK_FIX, or
// tk_dim when TK_FIX = 0 (1..KT); tn = C. Edge tiles hold what is left of M, N, K.
// T = ceil(M/tm) * ceil(N/C) * ceil(K/tk) tile steps, k always innermost; N_OUTER = 0: loop
// order "mnk" (m outer), 1: "nmk" (n outer). A tile step fetches A when (m, k) changes, B when
// (k, n) changes; C is accumulated across the k tiles in the C buffer (read-modify-write: the
// k = 0 tile overwrites), so no partial sum ever spills; a C tile is written to DRAM (int32) once
// its last k tile is done.
// Buffers (behavioural memories, two halves each): A tiles MT x KT int8 ([half][m][k]), B tiles
// KT x C int8 ([half][k][col]), C tiles MT x C int32 ([half][m], lane j = column j).
//
// DRAM address map (blocked; sim/tile_controller.py blocked()): each matrix tile after tile in
// row-major tile order, each tile row-major at its own (edge) size. A tile (mi, ki) at
// a_base + mi*tm*K + em*ki*tk, em*ek bytes; B tile (ki, ni) at b_base + ki*tk*N + ek*ni*C, ek*en
// bytes; C tile (mi, ni) at c_base + 4*(mi*tm*N + em*ni*C), 4*em*en bytes (int32, little endian).
//
// DRAM port (one burst at a time; signals sampled and driven between rising edges):
//   request: req_valid is high for one cycle (the request cycle) with req_write (1: write),
//            req_addr (byte address) and req_len (bytes);
//   beats:   the DRAM drives dv = 1 with dn (1..DBW) bytes on a cycle it moves data. A read's
//            bytes come on rd_data (byte j at bits [8j +: 8]); a write's bytes are taken from
//            wr_data, which always shows the burst's next DBW bytes (byte j at [8j +: 8]).
//   The engine counts bytes: the edge that samples the beat completing req_len ends the
//   burst, and the same edge raises the slot's next request, so bursts run back to back. The
//   DRAM model of the bench (rtl_models/benches/tile_controller_bench.py) moves min(bw, left)
//   bytes per cycle; a read's first beat comes `latency` cycles after the request cycle (0: in
//   the request cycle), a write's in the request cycle. A burst of b bytes so holds the port
//   ceil(b / bw) cycles (write) or latency + ceil(b / bw) cycles (read): sim/memory.py's bursts.
//
// Schedule (sim/memory.py's double-buffered shared-port slots). Slot s = 0 .. T+1:
//   slot 0:        DRAM reads tile 0's A and B;
//   slot s (1..T): the array computes tile s-1 | DRAM reads tile s's new A, then its new B
//                  (s < T), then writes tile s-2's C if that tile was finished (s >= 2);
//   slot T+1:      DRAM writes tile T-1's C.
// A slot starts on its launch edge (the first request and the compute start there); it ends on
// the edge that completes both its compute and its last burst (at once if it has none), and the
// next edge launches the next slot: a slot lasts max(compute, DRAM) + 1 cycles (slot overhead 1).
// Slot 0 launches on the edge that samples start; done pulses after the edge ending slot T+1.
// Start to done, both edges counted: sum over slots of (max(compute, DRAM) + 1), sim/memory.py's
// total_cycles with slot_overhead = 1.
//
// Compute side (tile s-1 of slot s, extents c_em x en x c_ek, its halves of the buffers):
//   ccyc:      the compute cycle, 0 on the cycle after the launch edge, counting up while
//              comp_busy; comp_busy is high from the launch edge to the edge ending cycle
//              comp_end (the controller's input), comp_end + 1 cycles: a bench measures compute
//              there, and stall = total - compute;
//   A port:    a_slice = A_K_SLICE = 1: the k-slice a_idx (lane i = row m = i, MT lanes, zero
//              beyond c_em rows); 0: the m-row a_idx (lane i = column k = i, KT lanes, zero beyond
//              c_ek columns); combinational;
//   B port:    b_slice = row k = b_row (lane j = column j; zero beyond en columns or c_ek rows);
//   C port:    on an edge with comp_busy and acc_en, C row acc_row += acc_data (lane j = column
//              j), or = acc_data when the tile is the first k tile.
/* verilator lint_off WIDTH */
module tile_slot_engine #(
    parameter MT      = 4,    // largest m tile: A and C buffer rows
    parameter KT      = 16,   // largest k tile: A buffer columns, B buffer rows
    parameter C       = 4,    // n tile: B and C buffer columns (the array's columns)
    parameter TM_FIX  = 0,    // the m tile, or 0: the tm_dim input
    parameter TK_FIX  = 0,    // the k tile, or 0: the tk_dim input
    parameter N_OUTER = 0,    // loop order: 0 "mnk", 1 "nmk" (k innermost in both)
    parameter A_K_SLICE = 1,  // A read port: 1 a k-slice (MT lanes), 0 an m-row (KT lanes)
    parameter DBW     = 16,   // DRAM data bus width in bytes (the most bytes per beat)
    parameter DW      = 16    // bits of M, N, K, tm, tk
) (
    input                        clk,
    input                        rst,
    input                        start,
    input      [DW-1:0]          m_dim,
    input      [DW-1:0]          n_dim,
    input      [DW-1:0]          k_dim,
    input      [DW-1:0]          tm_dim,
    input      [DW-1:0]          tk_dim,
    input      [31:0]            a_base,
    input      [31:0]            b_base,
    input      [31:0]            c_base,
    output                       busy,
    output reg                   done,
    output reg                   comp_busy,
    output reg                   req_valid,
    output reg                   req_write,
    output reg [31:0]            req_addr,
    output reg [31:0]            req_len,
    output reg [8*DBW-1:0]       wr_data,
    input                        dv,
    input      [$clog2(DBW+1)-1:0] dn,
    input      [8*DBW-1:0]       rd_data,
    // compute side
    output reg [31:0]            ccyc,
    output     [31:0]            c_em,
    output     [31:0]            c_ek,
    input      [31:0]            comp_end,
    input      [31:0]            a_idx,
    output     [8*(A_K_SLICE ? MT : KT)-1:0] a_slice,
    input      [31:0]            b_row,
    output     [8*C-1:0]         b_slice,
    input                        acc_en,
    input      [31:0]            acc_row,
    input      [32*C-1:0]        acc_data
);
    localparam S_IDLE = 2'd0, S_LAUNCH = 2'd1, S_RUN = 2'd2;
    localparam K_A = 2'd0, K_B = 2'd1, K_W = 2'd2;

    reg [1:0] state;
    assign busy = (state != S_IDLE);
    wire idle = (state == S_IDLE);

    // the run's dimensions: the inputs on the start edge (slot 0 launches on it), then latched
    reg [DW-1:0] m_q, n_q, k_q, tm_q, tk_q;
    reg [31:0]   ab_q, bb_q, cb_q;
    wire [31:0] mv  = idle ? m_dim : m_q;
    wire [31:0] nv  = idle ? n_dim : n_q;
    wire [31:0] kv  = idle ? k_dim : k_q;
    wire [31:0] tmv = (TM_FIX != 0) ? TM_FIX : idle ? tm_dim : tm_q;
    wire [31:0] tkv = (TK_FIX != 0) ? TK_FIX : idle ? tk_dim : tk_q;
    wire [31:0] abv = idle ? a_base : ab_q;
    wire [31:0] bbv = idle ? b_base : bb_q;
    wire [31:0] cbv = idle ? c_base : cb_q;
    wire [31:0] mt = (mv + tmv - 1) / tmv;
    wire [31:0] nt = (nv + C - 1) / C;
    wire [31:0] kt = (kv + tkv - 1) / tkv;
    wire [31:0] ntiles = mt * nt * kt;

    // tile descriptors: f = tile s (fetched this slot), c = tile s-1 (computed), w = tile s-2
    // (its C written); they shift on the edge that ends a slot
    reg [31:0] slot;
    reg [DW-1:0] f_mi, f_ni, f_ki, c_mi, c_ni, c_ki, w_mi, w_ni;
    reg f_ah, f_bh, c_ah, c_bh, c_ch, w_ch, w_v;
    wire f_v = (slot < ntiles);
    wire c_v = (slot >= 1) && (slot <= ntiles);
    wire [31:0] f_em = (f_mi == mt - 1) ? mv - f_mi * tmv : tmv;
    wire [31:0] f_en = (f_ni == nt - 1) ? nv - f_ni * C : C;
    wire [31:0] f_ek = (f_ki == kt - 1) ? kv - f_ki * tkv : tkv;
    assign      c_em = (c_mi == mt - 1) ? mv - c_mi * tmv : tmv;
    wire [31:0] c_en = (c_ni == nt - 1) ? nv - c_ni * C : C;
    assign      c_ek = (c_ki == kt - 1) ? kv - c_ki * tkv : tkv;
    wire [31:0] w_em = (w_mi == mt - 1) ? mv - w_mi * tmv : tmv;
    wire [31:0] w_en = (w_ni == nt - 1) ? nv - w_ni * C : C;
    wire new_a = f_v && (!c_v || f_mi != c_mi || f_ki != c_ki);
    wire new_b = f_v && (!c_v || f_ki != c_ki || f_ni != c_ni);
    wire [31:0] a_addr = abv + f_mi * tmv * kv + f_em * f_ki * tkv;
    wire [31:0] b_addr = bbv + f_ki * tkv * nv + f_ek * f_ni * C;
    wire [31:0] c_addr = cbv + 4 * (w_mi * tmv * nv + w_em * w_ni * C);

    // buffers: two halves each
    reg [7:0]        amem [0:2*MT*KT-1];  // [half][m][k]
    reg [7:0]        bmem [0:2*KT*C-1];   // [half][k][col]
    reg [C*32-1:0]   cmem [0:2*MT-1];     // [half][m], lane j = column j

    // ---------------------------------------------------------------- compute side
    wire [C*32-1:0] c_old = cmem[c_ch * MT + acc_row];
    wire [C*32-1:0] acc_sum;

    genvar gi;
    generate
        if (A_K_SLICE) begin : g_aks
            for (gi = 0; gi < MT; gi = gi + 1) begin : g_a
                assign a_slice[gi*8 +: 8] = (gi < c_em) ? amem[c_ah * MT * KT + gi * KT + a_idx] : 8'd0;
            end
        end else begin : g_amr
            for (gi = 0; gi < KT; gi = gi + 1) begin : g_a
                assign a_slice[gi*8 +: 8] = (gi < c_ek) ? amem[c_ah * MT * KT + a_idx * KT + gi] : 8'd0;
            end
        end
        for (gi = 0; gi < C; gi = gi + 1) begin : g_bc
            assign b_slice[gi*8 +: 8] = (gi < c_en && b_row < c_ek) ? bmem[c_bh * KT * C + b_row * C + gi] : 8'd0;
            assign acc_sum[gi*32 +: 32] = c_old[gi*32 +: 32] + acc_data[gi*32 +: 32];
        end
    endgenerate

    // ---------------------------------------------------------------- DRAM port
    reg        dram_busy, pend_b, pend_w;
    reg [1:0]  kind;                       // the burst in flight: K_A, K_B or K_W
    reg [31:0] bptr;                       // bytes of it moved so far
    reg        fin_c, fin_d;               // this edge ends the compute / the last burst
    reg        iss;                        // this edge raises a request, of kind ik
    reg [1:0]  ik;
    reg [31:0] p;
    integer    j;

    // the DBW bytes of C tile (half hb, en columns, len bytes) from byte p0 on
    function [8*DBW-1:0] c_beat;
        input        hb;
        input [31:0] p0;
        input [31:0] en;
        input [31:0] len;
        integer      jj;
        reg   [31:0] pp, e;
        reg   [C*32-1:0] row;
        reg   [31:0] word;
        begin
            c_beat = {(8*DBW){1'b0}};
            for (jj = 0; jj < DBW; jj = jj + 1) begin
                pp = p0 + jj;
                if (pp < len) begin
                    e = pp >> 2;
                    row = cmem[hb * MT + e / en];
                    word = row >> ((e % en) * 32);
                    c_beat[8*jj +: 8] = word >> (8 * pp[1:0]);
                end
            end
        end
    endfunction


    always @(posedge clk) begin
        req_valid <= 1'b0;
        done <= 1'b0;
        iss = 1'b0;
        ik = K_A;
        if (rst) begin
            state <= S_IDLE;
            comp_busy <= 1'b0;
            dram_busy <= 1'b0;
            pend_b <= 1'b0;
            pend_w <= 1'b0;
            req_write <= 1'b0;
            req_addr <= 32'd0;
            req_len <= 32'd0;
            wr_data <= {(8*DBW){1'b0}};
            kind <= K_A;
            bptr <= 32'd0;
            ccyc <= 32'd0;
            slot <= 32'd0;
            f_mi <= 0; f_ni <= 0; f_ki <= 0;
            c_mi <= 0; c_ni <= 0; c_ki <= 0;
            w_mi <= 0; w_ni <= 0;
            f_ah <= 1'b0; f_bh <= 1'b0; c_ah <= 1'b0; c_bh <= 1'b0; c_ch <= 1'b0; w_ch <= 1'b0;
            w_v <= 1'b0;
            m_q <= 0; n_q <= 0; k_q <= 0; tm_q <= 0; tk_q <= 0;
            ab_q <= 32'd0; bb_q <= 32'd0; cb_q <= 32'd0;
        end else if (state == S_LAUNCH || (idle && start)) begin
            // launch slot `slot`: compute tile s-1, the first burst of the slot
            if (idle) begin
                m_q <= m_dim; n_q <= n_dim; k_q <= k_dim; tm_q <= tm_dim; tk_q <= tk_dim;
                ab_q <= a_base; bb_q <= b_base; cb_q <= c_base;
            end
            ccyc <= 32'd0;
            comp_busy <= c_v;
            f_ah <= new_a ? ~c_ah : c_ah;
            f_bh <= new_b ? ~c_bh : c_bh;
            pend_b <= 1'b0;
            pend_w <= 1'b0;
            if (new_a) begin
                iss = 1'b1; ik = K_A;
                pend_b <= new_b;
                pend_w <= w_v;
            end else if (new_b) begin
                iss = 1'b1; ik = K_B;
                pend_w <= w_v;
            end else if (w_v) begin
                iss = 1'b1; ik = K_W;
            end
            dram_busy <= new_a || new_b || w_v;
            state <= S_RUN;
        end else if (state == S_RUN) begin
            fin_c = 1'b0;
            fin_d = 1'b0;
            if (comp_busy) begin
                ccyc <= ccyc + 1;
                if (acc_en)
                    cmem[c_ch * MT + acc_row] <= (c_ki == 0) ? acc_data : acc_sum;
                if (ccyc == comp_end) begin
                    comp_busy <= 1'b0;
                    fin_c = 1'b1;
                end
            end
            if (dram_busy && dv) begin
                if (kind == K_W) begin
                    wr_data <= c_beat(w_ch, bptr + dn, w_en, req_len);
                end else begin
                    // a read beat: its bytes into the A or B tile being fetched (row-major at its
                    // own extents in the burst, at the buffer's row stride in the buffer)
                    for (j = 0; j < DBW; j = j + 1) begin
                        if (j < dn) begin
                            p = bptr + j;
                            if (kind == K_A)
                                amem[f_ah * MT * KT + (p / f_ek) * KT + (p % f_ek)] <= rd_data[8*j +: 8];
                            else
                                bmem[f_bh * KT * C + (p / f_en) * C + (p % f_en)] <= rd_data[8*j +: 8];
                        end
                    end
                end
                bptr <= bptr + dn;
                if (bptr + dn >= req_len) begin
                    if (pend_b) begin
                        iss = 1'b1; ik = K_B;
                        pend_b <= 1'b0;
                    end else if (pend_w) begin
                        iss = 1'b1; ik = K_W;
                        pend_w <= 1'b0;
                    end else begin
                        dram_busy <= 1'b0;
                        fin_d = 1'b1;
                    end
                end
            end
            if ((!comp_busy || fin_c) && (!dram_busy || fin_d)) begin
                if (slot == ntiles + 1) begin
                    // slot T+1 wrote the last C tile: the run is over
                    done <= 1'b1;
                    state <= S_IDLE;
                    slot <= 32'd0;
                    f_mi <= 0; f_ni <= 0; f_ki <= 0;
                    w_v <= 1'b0;
                end else begin
                    // shift the descriptors: w <= c <= f <= the next tile of the loop order
                    w_mi <= c_mi;
                    w_ni <= c_ni;
                    w_ch <= c_ch;
                    w_v  <= c_v && (c_ki == kt - 1);
                    c_mi <= f_mi;
                    c_ni <= f_ni;
                    c_ki <= f_ki;
                    c_ah <= f_ah;
                    c_bh <= f_bh;
                    c_ch <= (f_ki == 0) ? ~c_ch : c_ch;
                    if (f_ki + 1 != kt) begin
                        f_ki <= f_ki + 1;
                    end else if (N_OUTER == 0) begin
                        // "mnk": n, then m
                        f_ki <= 0;
                        f_ni <= (f_ni + 1 == nt) ? 0 : f_ni + 1;
                        if (f_ni + 1 == nt) f_mi <= f_mi + 1;
                    end else begin
                        // "nmk": m, then n
                        f_ki <= 0;
                        f_mi <= (f_mi + 1 == mt) ? 0 : f_mi + 1;
                        if (f_mi + 1 == mt) f_ni <= f_ni + 1;
                    end
                    slot <= slot + 1;
                    state <= S_LAUNCH;
                end
            end
        end
        // the request of this edge: the slot's first burst, or the next one back to back
        if (iss) begin
            req_valid <= 1'b1;
            kind <= ik;
            bptr <= 32'd0;
            if (ik == K_A) begin
                req_write <= 1'b0;
                req_addr  <= a_addr;
                req_len   <= f_em * f_ek;
            end else if (ik == K_B) begin
                req_write <= 1'b0;
                req_addr  <= b_addr;
                req_len   <= f_ek * f_en;
            end else begin
                req_write <= 1'b1;
                req_addr  <= c_addr;
                req_len   <= 4 * w_em * w_en;
                wr_data   <= c_beat(w_ch, 32'd0, w_en, 4 * w_em * w_en);
            end
        end
    end
endmodule
/* verilator lint_on WIDTH */
