`timescale 1ns/1ps
// Tile controller: an INT8 GEMM C[M x N] = A[M x K] @ B[K x N] run tile by tile on one
// output-stationary R x C array (os_systolic_array.v, unchanged), with double-buffered A, B and
// C tile buffers and one shared DRAM port. The RTL twin of sim/memory.py (double buffered,
// Dram(shared=True)); sim/tile_controller.py gives its per-tile compute cycles and slot overhead.
//
// Tiles: loop order "mnk" (m outer, k inner), tile tm = R, tn = C, tk = tk_dim (1..KT); edge
// tiles hold what is left of M, N, K. T = ceil(M/R) * ceil(N/C) * ceil(K/tk) tile steps.
// Buffers (behavioural memories, two halves each): A tiles R x KT int8, B tiles KT x C int8,
// C tiles R x C int32. A tile step fetches A when (m, k) changes, B when (k, n) changes; C is
// accumulated across the k tiles in the C buffer (read-modify-write: the k = 0 tile overwrites),
// so no partial sum ever spills; a C tile is written to DRAM (int32) once its last k tile is done.
//
// DRAM address map (blocked; sim/tile_controller.py blocked()): each matrix tile after tile in
// row-major tile order, each tile row-major at its own (edge) size. A tile (mi, ki) at
// a_base + mi*R*K + em*ki*tk, em*ek bytes; B tile (ki, ni) at b_base + ki*tk*N + ek*ni*C, ek*en
// bytes; C tile (mi, ni) at c_base + 4*(mi*R*N + em*ni*C), 4*em*en bytes (int32, little endian).
//
// DRAM port (one burst at a time; signals sampled and driven between rising edges):
//   request: req_valid is high for one cycle (the request cycle) with req_write (1: write),
//            req_addr (byte address) and req_len (bytes);
//   beats:   the DRAM drives dv = 1 with dn (1..DBW) bytes on a cycle it moves data. A read's
//            bytes come on rd_data (byte j at bits [8j +: 8]); a write's bytes are taken from
//            wr_data, which always shows the burst's next DBW bytes (byte j at [8j +: 8]).
//   The controller counts bytes: the edge that samples the beat completing req_len ends the
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
    input                        clk,
    input                        rst,
    input                        start,
    input      [DW-1:0]          m_dim,
    input      [DW-1:0]          n_dim,
    input      [DW-1:0]          k_dim,
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
    input      [8*DBW-1:0]       rd_data
);
    localparam RAW = $clog2(R > 1 ? R : 2);
    localparam KAW = $clog2(KT);
    localparam S_IDLE = 2'd0, S_LAUNCH = 2'd1, S_RUN = 2'd2;
    localparam K_A = 2'd0, K_B = 2'd1, K_W = 2'd2;

    reg [1:0] state;
    assign busy = (state != S_IDLE);
    wire idle = (state == S_IDLE);

    // the run's dimensions: the inputs on the start edge (slot 0 launches on it), then latched
    reg [DW-1:0] m_q, n_q, k_q, tk_q;
    reg [31:0]   ab_q, bb_q, cb_q;
    wire [31:0] mv  = idle ? m_dim : m_q;
    wire [31:0] nv  = idle ? n_dim : n_q;
    wire [31:0] kv  = idle ? k_dim : k_q;
    wire [31:0] tkv = idle ? tk_dim : tk_q;
    wire [31:0] abv = idle ? a_base : ab_q;
    wire [31:0] bbv = idle ? b_base : bb_q;
    wire [31:0] cbv = idle ? c_base : cb_q;
    wire [31:0] mt = (mv + R - 1) / R;
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
    wire [31:0] f_em = (f_mi == mt - 1) ? mv - f_mi * R : R;
    wire [31:0] f_en = (f_ni == nt - 1) ? nv - f_ni * C : C;
    wire [31:0] f_ek = (f_ki == kt - 1) ? kv - f_ki * tkv : tkv;
    wire [31:0] c_em = (c_mi == mt - 1) ? mv - c_mi * R : R;
    wire [31:0] c_en = (c_ni == nt - 1) ? nv - c_ni * C : C;
    wire [31:0] c_ek = (c_ki == kt - 1) ? kv - c_ki * tkv : tkv;
    wire [31:0] w_em = (w_mi == mt - 1) ? mv - w_mi * R : R;
    wire [31:0] w_en = (w_ni == nt - 1) ? nv - w_ni * C : C;
    wire new_a = f_v && (!c_v || f_mi != c_mi || f_ki != c_ki);
    wire new_b = f_v && (!c_v || f_ki != c_ki || f_ni != c_ni);
    wire [31:0] a_addr = abv + f_mi * R * kv + f_em * f_ki * tkv;
    wire [31:0] b_addr = bbv + f_ki * tkv * nv + f_ek * f_ni * C;
    wire [31:0] c_addr = cbv + 4 * (w_mi * R * nv + w_em * w_ni * C);

    // buffers: two halves each
    reg [7:0]        amem [0:2*R*KT-1];   // [half][row][k]
    reg [7:0]        bmem [0:2*KT*C-1];   // [half][k][col]
    reg [C*32-1:0]   cmem [0:2*R-1];      // [half][row], lane j = column j

    // ---------------------------------------------------------------- compute
    reg  [31:0] ccyc;                      // cycle of the tile's compute (0: after the launch edge)
    wire [31:0] rd0 = c_ek + R + C;        // cycle reading row R-1 of the array's output buffer
    wire [31:0] rd_i = ccyc - rd0;
    wire [31:0] acc_i = ccyc - rd0 - 1;
    wire        arr_ld_en = comp_busy && (ccyc < c_ek);
    wire        arr_start = comp_busy && (ccyc == 1);
    wire [RAW-1:0] arr_rd_addr = (ccyc >= rd0 && ccyc < rd0 + R) ? (R - 1 - rd_i) : 0;
    wire [31:0] acc_row = R - 1 - acc_i;
    wire        acc_now = comp_busy && (ccyc > rd0) && (ccyc <= rd0 + R);
    wire [R*8-1:0]  arr_ld_a;
    wire [C*8-1:0]  arr_ld_b;
    wire [C*32-1:0] arr_rd;
    wire [C*32-1:0] c_old = cmem[c_ch * R + acc_row];
    wire [C*32-1:0] acc_sum;
    wire arr_busy, arr_done;

    genvar gi;
    generate
        for (gi = 0; gi < R; gi = gi + 1) begin : g_lda
            assign arr_ld_a[gi*8 +: 8] = (gi < c_em) ? amem[c_ah * R * KT + gi * KT + ccyc] : 8'd0;
        end
        for (gi = 0; gi < C; gi = gi + 1) begin : g_ldb
            assign arr_ld_b[gi*8 +: 8] = (gi < c_en) ? bmem[c_bh * KT * C + ccyc * C + gi] : 8'd0;
            assign acc_sum[gi*32 +: 32] = c_old[gi*32 +: 32] + arr_rd[gi*32 +: 32];
        end
    endgenerate

    os_systolic_array #(.R(R), .C(C), .A_W(8), .B_W(8), .ACC_W(32), .DEPTH(KT)) u_array (
        .clk(clk), .rst(rst), .ld_en(arr_ld_en), .ld_addr(ccyc[KAW-1:0]), .ld_a(arr_ld_a), .ld_b(arr_ld_b),
        .start(arr_start), .t_len(c_ek[KAW:0]), .busy(arr_busy), .done(arr_done),
        .rd_addr(arr_rd_addr), .rd_data(arr_rd)
    );

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
                    row = cmem[hb * R + e / en];
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
            m_q <= 0; n_q <= 0; k_q <= 0; tk_q <= 0;
            ab_q <= 32'd0; bb_q <= 32'd0; cb_q <= 32'd0;
        end else if (state == S_LAUNCH || (idle && start)) begin
            // launch slot `slot`: compute tile s-1, the first burst of the slot
            if (idle) begin
                m_q <= m_dim; n_q <= n_dim; k_q <= k_dim; tk_q <= tk_dim;
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
                if (acc_now)
                    cmem[c_ch * R + acc_row] <= (c_ki == 0) ? arr_rd : acc_sum;
                if (ccyc == rd0 + R) begin
                    comp_busy <= 1'b0;
                    fin_c = 1'b1;
                end
            end
            if (dram_busy && dv) begin
                if (kind == K_A) begin
                    for (j = 0; j < DBW; j = j + 1) begin
                        if (j < dn) begin
                            p = bptr + j;
                            amem[f_ah * R * KT + (p / f_ek) * KT + (p % f_ek)] <= rd_data[8*j +: 8];
                        end
                    end
                end else if (kind == K_B) begin
                    for (j = 0; j < DBW; j = j + 1) begin
                        if (j < dn) begin
                            p = bptr + j;
                            bmem[f_bh * KT * C + (p / f_en) * C + (p % f_en)] <= rd_data[8*j +: 8];
                        end
                    end
                end else begin
                    wr_data <= c_beat(w_ch, bptr + dn, w_en, req_len);
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
                    // shift the descriptors: w <= c <= f <= the next tile of the "mnk" loop
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
                    if (f_ki + 1 == kt) begin
                        f_ki <= 0;
                        if (f_ni + 1 == nt) begin
                            f_ni <= 0;
                            f_mi <= f_mi + 1;
                        end else begin
                            f_ni <= f_ni + 1;
                        end
                    end else begin
                        f_ki <= f_ki + 1;
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
