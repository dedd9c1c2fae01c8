`timescale 1ns/1ps
// Tile controller, weight-stationary: an INT8 GEMM C[M x N] = A[M x K] @ B[K x N] run tile by
// tile on one weight-stationary R x C array (ws_systolic_array.v, unchanged), with
// double-buffered A, B and C tile buffers and one shared DRAM port. The WS twin of
// tile_controller.v (the output-stationary one): the same DRAM port, slot schedule and address
// map; only the tiles, the loop order and the compute of a tile differ. sim/tile_controller.py
// (predict_ws) gives its per-tile compute cycles and slot overhead to sim/memory.py.
//
// Tiles: loop order "nmk" (n outer, then m, k inner), tile tk = R (one weight fold: R rows of K
// by C columns of N), tn = C, tm = tm_dim (1..TM) activation rows streamed through the fold;
// edge tiles hold what is left of M, N, K. T = ceil(N/C) * ceil(M/tm) * ceil(K/R) tile steps.
// Buffers (behavioural memories, two halves each): A tiles TM x R int8, B tiles R x C int8,
// C tiles TM x C int32. A tile step fetches A when (m, k) changes, B when (k, n) changes (with
// K <= R the weight tile stays while the M chunks stream); C is accumulated across the k tiles
// in the C buffer (read-modify-write: the k = 0 tile overwrites), k being the innermost loop, so
// no partial sum ever spills; a C tile is written to DRAM (int32) once its last k tile is done.
//
// DRAM address map (blocked; sim/tile_controller.py blocked()): each matrix tile after tile in
// row-major tile order, each tile row-major at its own (edge) size. A tile (mi, ki) at
// a_base + mi*tm*K + em*ki*R, em*ek bytes; B tile (ki, ni) at b_base + ki*R*N + ek*ni*C, ek*en
// bytes; C tile (mi, ni) at c_base + 4*(mi*tm*N + em*ni*C), 4*em*en bytes (int32, little endian).
//
// DRAM port and schedule: as tile_controller.v (one burst at a time, bursts back to back; slot
// 0 reads tile 0's A and B, slot s (1..T) computes tile s-1 while reading tile s's new A then
// new B and writing tile s-2's finished C, slot T+1 writes tile T-1's C; a slot lasts
// max(compute, DRAM) + 1 cycles, slot overhead 1).
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
    input                        clk,
    input                        rst,
    input                        start,
    input      [DW-1:0]          m_dim,
    input      [DW-1:0]          n_dim,
    input      [DW-1:0]          k_dim,
    input      [DW-1:0]          tm_dim,
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
    localparam TAW = $clog2(TM);
    localparam S_IDLE = 2'd0, S_LAUNCH = 2'd1, S_RUN = 2'd2;
    localparam K_A = 2'd0, K_B = 2'd1, K_W = 2'd2;

    reg [1:0] state;
    assign busy = (state != S_IDLE);
    wire idle = (state == S_IDLE);

    // the run's dimensions: the inputs on the start edge (slot 0 launches on it), then latched
    reg [DW-1:0] m_q, n_q, k_q, tm_q;
    reg [31:0]   ab_q, bb_q, cb_q;
    wire [31:0] mv  = idle ? m_dim : m_q;
    wire [31:0] nv  = idle ? n_dim : n_q;
    wire [31:0] kv  = idle ? k_dim : k_q;
    wire [31:0] tmv = idle ? tm_dim : tm_q;
    wire [31:0] abv = idle ? a_base : ab_q;
    wire [31:0] bbv = idle ? b_base : bb_q;
    wire [31:0] cbv = idle ? c_base : cb_q;
    wire [31:0] mt = (mv + tmv - 1) / tmv;
    wire [31:0] nt = (nv + C - 1) / C;
    wire [31:0] kt = (kv + R - 1) / R;
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
    wire [31:0] f_ek = (f_ki == kt - 1) ? kv - f_ki * R : R;
    wire [31:0] c_em = (c_mi == mt - 1) ? mv - c_mi * tmv : tmv;
    wire [31:0] c_en = (c_ni == nt - 1) ? nv - c_ni * C : C;
    wire [31:0] c_ek = (c_ki == kt - 1) ? kv - c_ki * R : R;
    wire [31:0] w_em = (w_mi == mt - 1) ? mv - w_mi * tmv : tmv;
    wire [31:0] w_en = (w_ni == nt - 1) ? nv - w_ni * C : C;
    wire new_a = f_v && (!c_v || f_mi != c_mi || f_ki != c_ki);
    wire new_b = f_v && (!c_v || f_ki != c_ki || f_ni != c_ni);
    wire [31:0] a_addr = abv + f_mi * tmv * kv + f_em * f_ki * R;
    wire [31:0] b_addr = bbv + f_ki * R * nv + f_ek * f_ni * C;
    wire [31:0] c_addr = cbv + 4 * (w_mi * tmv * nv + w_em * w_ni * C);

    // buffers: two halves each
    reg [7:0]        amem [0:2*TM*R-1];   // [half][row m][k]
    reg [7:0]        bmem [0:2*R*C-1];    // [half][k][col]
    reg [C*32-1:0]   cmem [0:2*TM-1];     // [half][row m], lane j = column j

    // ---------------------------------------------------------------- compute
    reg  [31:0] ccyc;                      // cycle of the tile's compute (0: after the launch edge)
    localparam integer RD0 = 2 * R + C;    // cycle reading row 0 of the array's output buffer
    wire [31:0] rd_i  = ccyc - RD0;
    wire [31:0] acc_i = ccyc - RD0 - 1;
    wire [31:0] w_row = R - 1 - ccyc;      // weight row written this cycle (while ccyc < R)
    wire        arr_w_en  = comp_busy && (ccyc < R);
    wire        arr_a_en  = comp_busy && (ccyc < c_em);
    wire        arr_start = comp_busy && (ccyc == 1);
    wire [TAW-1:0] arr_rd_addr = (ccyc >= RD0 && ccyc < RD0 + c_em) ? rd_i : 0;
    wire        acc_now = comp_busy && (ccyc > RD0) && (ccyc <= RD0 + c_em);
    wire [R*8-1:0]  arr_a_data;
    wire [C*8-1:0]  arr_w_data;
    wire [C*32-1:0] arr_rd;
    wire [C*32-1:0] c_old = cmem[c_ch * TM + acc_i];
    wire [C*32-1:0] acc_sum;
    wire arr_busy, arr_done;

    genvar gi;
    generate
        for (gi = 0; gi < R; gi = gi + 1) begin : g_lda
            assign arr_a_data[gi*8 +: 8] = (gi < c_ek) ? amem[c_ah * TM * R + ccyc * R + gi] : 8'd0;
        end
        for (gi = 0; gi < C; gi = gi + 1) begin : g_ldw
            assign arr_w_data[gi*8 +: 8] = (gi < c_en && w_row < c_ek) ? bmem[c_bh * R * C + w_row * C + gi] : 8'd0;
            assign acc_sum[gi*32 +: 32] = c_old[gi*32 +: 32] + arr_rd[gi*32 +: 32];
        end
    endgenerate

    ws_systolic_array #(.R(R), .C(C), .A_W(8), .B_W(8), .ACC_W(32), .DEPTH(TM)) u_array (
        .clk(clk), .rst(rst), .w_en(arr_w_en), .w_addr(w_row[RAW-1:0]), .w_data(arr_w_data),
        .a_en(arr_a_en), .a_addr(ccyc[TAW-1:0]), .a_data(arr_a_data),
        .start(arr_start), .t_len(c_em[TAW:0]), .accumulate(1'b0), .busy(arr_busy), .done(arr_done),
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
                    row = cmem[hb * TM + e / en];
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
            m_q <= 0; n_q <= 0; k_q <= 0; tm_q <= 0;
            ab_q <= 32'd0; bb_q <= 32'd0; cb_q <= 32'd0;
        end else if (state == S_LAUNCH || (idle && start)) begin
            // launch slot `slot`: compute tile s-1, the first burst of the slot
            if (idle) begin
                m_q <= m_dim; n_q <= n_dim; k_q <= k_dim; tm_q <= tm_dim;
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
                    cmem[c_ch * TM + acc_i] <= (c_ki == 0) ? arr_rd : acc_sum;
                if (ccyc == RD0 + c_em) begin
                    comp_busy <= 1'b0;
                    fin_c = 1'b1;
                end
            end
            if (dram_busy && dv) begin
                if (kind == K_A) begin
                    for (j = 0; j < DBW; j = j + 1) begin
                        if (j < dn) begin
                            p = bptr + j;
                            amem[f_ah * TM * R + (p / f_ek) * R + (p % f_ek)] <= rd_data[8*j +: 8];
                        end
                    end
                end else if (kind == K_B) begin
                    for (j = 0; j < DBW; j = j + 1) begin
                        if (j < dn) begin
                            p = bptr + j;
                            bmem[f_bh * R * C + (p / f_en) * C + (p % f_en)] <= rd_data[8*j +: 8];
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
                    // shift the descriptors: w <= c <= f <= the next tile of the "nmk" loop
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
                        if (f_mi + 1 == mt) begin
                            f_mi <= 0;
                            f_ni <= f_ni + 1;
                        end else begin
                            f_mi <= f_mi + 1;
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
