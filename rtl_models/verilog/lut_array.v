`timescale 1ns/1ps
// An array of LUT look-up lanes around one table builder, for binary-coded GEMM (LUT-GEMM /
// ShiftAddLLM), integer path:
//   y[m][n] = sum_i sum_k 2^e[i][n][k/g] * (bit k of plane i, row n ? +x[m][k] : -x[m][k])
// int8 activations, packed sign bits (bit t of byte kb is column 8*kb + t, 1 = +1), power-of-two
// scales applied as shifts, int32 accumulators. The cycle model is sim/lut_array.py; the
// co-simulation (rtl_models/lut_array_cosim.py) holds results and start->done cycles to it.
//
// One builder (lut_builder.v, as in lut_pe.v: 263 cycles per 256-entry table of one activation
// byte) feeds P lanes (lut_array_lane). Lane l owns output rows n = l + P*s (slot s); with
// NL = ceil(N/P) slots per lane, the lanes walk (slot s outer, plane i inner) together, one
// look-up each per cycle, L = q*NL cycles per table; a lane whose row n >= N is idle (no write).
// The table has P read ports (one storage array, P 256:1 read muxes): P banked copies would
// need the same P muxes plus P-1 more 256 x 12 tables (sim/lut_array.py has the area numbers).
// DBUF = 1 adds a second table so the next byte's build overlaps this byte's look-ups.
//
// Buffers, written by the host through the load port before start (ld_sel picks one, ld_lane
// the lane for 1 and 2):
//   0: activations  xbuf[m*K + k]                   = x[m][k]                (int8, shared)
//   1: weight bytes lane l: wbuf[(kb*NL + s)*q + i] = packed[i][l + P*s][kb]
//   2: exponents    lane l: ebuf[(grp*NL + s)*q + i] = e[i][l + P*s][grp]    (EXP_W bits)
// Outputs: lane l's ybuf[m*NL + s] = y[m][l + P*s], read through a registered port (rd_data
// shows lane rd_lane, address rd_addr a cycle later).
//
// Control, in phases; a phase ends on the cycle on which every unit active in it has finished
// (a unit that finishes early waits). Steps (m, kb) run m outer, kb inner, S = M*K/8 of them.
//   DBUF = 0: build(0), look-ups(0), build(1), ...:           S * (263 + L) cycles
//   DBUF = 1: build(0); look-ups(j-1) || build(j) for j = 1..S-1, on opposite tables;
//             look-ups(S-1):                                  263 + (S-1)*max(263, L) + L
// The start edge is the first build cycle; done rises on the edge of the last look-up.

// One look-up lane: its weight-byte and exponent buffers, shifter, accumulate adder and int32
// accumulators. The table read port lives in lut_array: w_byte goes out, entry comes back.
module lut_array_lane #(
    parameter WAW   = 4,
    parameter EAW   = 4,
    parameter YAW   = 4,
    parameter EXP_W = 4,
    parameter ACC_W = 32,
    parameter TW    = 12,
    parameter LW    = 16
) (
    input              clk,
    input              ld_w,     // write ld_data into wbuf[ld_addr]
    input              ld_e,     // write ld_data into ebuf[ld_addr]
    input  [LW-1:0]    ld_addr,
    input  [7:0]       ld_data,
    input  [LW-1:0]    w_ptr,
    input  [LW-1:0]    e_ptr,
    input  [LW-1:0]    y_ptr,
    output [7:0]       w_byte,   // this cycle's weight byte: the table address
    input  [TW-1:0]    entry,    // T[w_byte]
    input              en,       // a look-up this cycle (lane active and its row n < N)
    input              first,    // first look-up of the row (kb = 0, plane 0): overwrite
    input  [YAW-1:0]   rd_addr,
    output [ACC_W-1:0] rd_word
);
    reg [7:0]       wbuf [0:(1<<WAW)-1];
    reg [EXP_W-1:0] ebuf [0:(1<<EAW)-1];
    reg [ACC_W-1:0] ybuf [0:(1<<YAW)-1];

    assign w_byte = wbuf[w_ptr[WAW-1:0]];
    wire [EXP_W-1:0] e_val   = ebuf[e_ptr[EAW-1:0]];
    wire [ACC_W-1:0] entry_x = {{(ACC_W-TW){entry[TW-1]}}, entry};
    wire [ACC_W-1:0] shifted = entry_x << e_val;
    wire [ACC_W-1:0] y_old   = ybuf[y_ptr[YAW-1:0]];
    assign rd_word = ybuf[rd_addr];

    always @(posedge clk) begin
        if (ld_w) wbuf[ld_addr[WAW-1:0]] <= ld_data;
        if (ld_e) ebuf[ld_addr[EAW-1:0]] <= ld_data[EXP_W-1:0];
        if (en) ybuf[y_ptr[YAW-1:0]] <= first ? shifted : y_old + shifted;
    end
endmodule

module lut_array #(
    parameter P     = 4,    // look-up lanes
    parameter DBUF  = 1,    // 1: two tables, build overlapped with look-ups
    parameter XAW   = 6,    // activation buffer address bits (2^XAW entries)
    parameter WAW   = 4,    // per-lane weight-byte buffer address bits
    parameter EAW   = 4,    // per-lane exponent buffer address bits
    parameter YAW   = 4,    // per-lane output buffer address bits
    parameter EXP_W = 4,
    parameter ACC_W = 32,
    parameter LW    = 16    // width of lengths, counters and pointers
) (
    input                  clk,
    input                  rst,
    input                  ld_en,
    input      [1:0]       ld_sel,
    input      [LW-1:0]    ld_lane,
    input      [LW-1:0]    ld_addr,
    input      [7:0]       ld_data,
    input                  start,
    input      [LW-1:0]    m_len,    // M
    input      [LW-1:0]    n_len,    // N
    input      [LW-1:0]    kb_len,   // K / 8
    input      [LW-1:0]    q_len,    // binary planes
    input      [LW-1:0]    bpg_len,  // bytes per scale group, g / 8
    output reg             busy,
    output reg             done,
    input      [LW-1:0]    rd_lane,
    input      [YAW-1:0]   rd_addr,
    output reg [ACC_W-1:0] rd_data
);
    localparam TW = 12;                   // |T| <= 8 * 128 = 1024: 12 signed bits
    localparam TAW = (DBUF != 0) ? 9 : 8; // table address bits: bank bit + entry

    reg [7:0]    xbuf [0:(1<<XAW)-1];
    reg [TW-1:0] tbl  [0:(1<<TAW)-1];

    always @(posedge clk) begin
        if (ld_en && ld_sel == 2'd0) xbuf[ld_addr[XAW-1:0]] <= ld_data;
    end

    wire [LW-1:0] one  = {{(LW-1){1'b0}}, 1'b1};
    wire [31:0]   p32  = P;
    wire [LW-1:0] LANES = p32[LW-1:0];  // P as an LW-bit length

    // lengths, latched at start
    reg [LW-1:0] m_q, n_q, kb_q, q_q, bpg_q;

    // phase controller
    reg bld_on, lk_on;       // unit active in this phase
    reg bld_wait, lk_wait;   // unit finished its work of this phase, waiting for the other
    reg all_built;           // every table of the GEMM has been built
    wire launch = start & ~busy;
    wire step   = launch | busy;
    wire bld_go = step & bld_on & ~bld_wait;
    wire lk_go  = step & lk_on & ~lk_wait;

    // -- builder (lut_builder.v) --------------------------------------------------------------
    reg [LW-1:0] x_base;     // activation address of this table's byte: 8 * step
    reg [LW-1:0] m_b, kb_b;  // step being built
    reg          bld_bank;
    wire [LW-1:0] x_addr;
    wire          tbl_we, bld_last;
    wire [7:0]    wr_entry;
    wire [TW-1:0] wr_data;
    lut_builder #(.LW(LW), .TW(TW)) u_build (
        .clk(clk), .rst(rst), .en(bld_go),
        .x_base(x_base), .x_addr(x_addr), .x_data(xbuf[x_addr[XAW-1:0]]),
        .we(tbl_we), .wr_entry(wr_entry), .wr_data(wr_data), .last(bld_last)
    );
    wire [8:0]   wr_idx    = {bld_bank, wr_entry};
    wire         bld_final = bld_last && (m_b == m_q - one) && (kb_b == kb_q - one);

    // -- look-up sequencer (shared by the lanes) -------------------------------------------
    reg [LW-1:0] n_base;     // P * slot: lane l works on row n_base + l
    reg [LW-1:0] i_i, m_l, kb_l, g_l;
    reg [LW-1:0] w_ptr, e_base, e_ptr, y_base, y_ptr;
    reg          lk_bank;
    wire last_plane = (i_i == q_q - one);
    wire last_slot  = (n_base + LANES >= n_q);
    wire last_kb    = (kb_l == kb_q - one);
    wire last_m     = (m_l == m_q - one);
    wire group_end  = (g_l == bpg_q - one);
    wire first_lookup = (kb_l == {LW{1'b0}}) && (i_i == {LW{1'b0}});
    wire lk_last    = lk_go && last_plane && last_slot;
    wire fin        = lk_last && last_kb && last_m;   // the GEMM's last look-up
    wire phase_end  = (~bld_on | bld_wait | bld_last) & (~lk_on | lk_wait | lk_last);

    // -- lanes and the table's P read ports -----------------------------------------------
    wire [8*P-1:0]     w_bytes;
    wire [ACC_W*P-1:0] rd_words;
    genvar l;
    generate
        for (l = 0; l < P; l = l + 1) begin : lane
            wire [LW-1:0] l_idx = l;
            wire [8:0]    rd_idx = {lk_bank, w_bytes[8*l +: 8]};   // read port l
            wire [TW-1:0] entry = tbl[rd_idx[TAW-1:0]];
            lut_array_lane #(.WAW(WAW), .EAW(EAW), .YAW(YAW), .EXP_W(EXP_W), .ACC_W(ACC_W), .TW(TW), .LW(LW)) u (
                .clk(clk),
                .ld_w(ld_en && ld_sel == 2'd1 && ld_lane == l_idx),
                .ld_e(ld_en && ld_sel == 2'd2 && ld_lane == l_idx),
                .ld_addr(ld_addr), .ld_data(ld_data),
                .w_ptr(w_ptr), .e_ptr(e_ptr), .y_ptr(y_ptr),
                .w_byte(w_bytes[8*l +: 8]), .entry(entry),
                .en(lk_go && (n_base + l_idx < n_q)), .first(first_lookup),
                .rd_addr(rd_addr), .rd_word(rd_words[ACC_W*l +: ACC_W])
            );
        end
    endgenerate

    integer li;
    always @(posedge clk) begin
        rd_data <= {ACC_W{1'b0}};
        for (li = 0; li < P; li = li + 1)
            if (rd_lane == li[LW-1:0]) rd_data <= rd_words[ACC_W*li +: ACC_W];
    end

    always @(posedge clk) begin
        if (rst) begin
            busy <= 1'b0; done <= 1'b0;
            bld_on <= 1'b1; lk_on <= 1'b0; bld_wait <= 1'b0; lk_wait <= 1'b0; all_built <= 1'b0;
            x_base <= {LW{1'b0}}; m_b <= {LW{1'b0}}; kb_b <= {LW{1'b0}};
            bld_bank <= 1'b0; lk_bank <= 1'b0;
            n_base <= {LW{1'b0}}; i_i <= {LW{1'b0}}; m_l <= {LW{1'b0}}; kb_l <= {LW{1'b0}}; g_l <= {LW{1'b0}};
            w_ptr <= {LW{1'b0}}; e_base <= {LW{1'b0}}; e_ptr <= {LW{1'b0}};
            y_base <= {LW{1'b0}}; y_ptr <= {LW{1'b0}};
            m_q <= {LW{1'b0}}; n_q <= {LW{1'b0}}; kb_q <= {LW{1'b0}}; q_q <= {LW{1'b0}}; bpg_q <= {LW{1'b0}};
        end else begin
            done <= 1'b0;
            if (launch) begin
                busy <= 1'b1;
                m_q <= m_len; n_q <= n_len; kb_q <= kb_len; q_q <= q_len; bpg_q <= bpg_len;
            end

            // builder
            if (tbl_we) tbl[wr_idx[TAW-1:0]] <= wr_data;
            if (bld_last) begin
                // the table is complete: the next step's is next (in the other bank with DBUF)
                x_base <= x_base + {{(LW-4){1'b0}}, 4'd8};
                bld_bank <= bld_bank ^ (DBUF != 0);
                if (kb_b != kb_q - one) begin
                    kb_b <= kb_b + one;
                end else begin
                    kb_b <= {LW{1'b0}};
                    m_b <= m_b + one;
                end
            end

            // look-up sequencer
            if (lk_go) begin
                w_ptr <= w_ptr + one;
                e_ptr <= e_ptr + one;
                if (!last_plane) begin
                    i_i <= i_i + one;
                end else begin
                    i_i <= {LW{1'b0}};
                    if (!last_slot) begin
                        n_base <= n_base + LANES;
                        y_ptr <= y_ptr + one;
                    end else begin
                        // end of a table: the next byte position, or the next activation row
                        n_base <= {LW{1'b0}};
                        lk_bank <= lk_bank ^ (DBUF != 0);
                        if (!last_kb) begin
                            kb_l <= kb_l + one;
                            y_ptr <= y_base;
                            if (group_end) begin
                                g_l <= {LW{1'b0}};
                                e_base <= e_ptr + one;
                            end else begin
                                g_l <= g_l + one;
                                e_ptr <= e_base;
                            end
                        end else begin
                            kb_l <= {LW{1'b0}}; g_l <= {LW{1'b0}};
                            e_base <= {LW{1'b0}}; e_ptr <= {LW{1'b0}}; w_ptr <= {LW{1'b0}};
                            m_l <= m_l + one;
                            y_base <= y_ptr + one;
                            y_ptr <= y_ptr + one;
                        end
                    end
                end
            end

            // phase controller
            if (fin) begin
                // last look-up of the GEMM: back to idle, every counter cleared (the builder's step
                // counter is 0 already: it wraps on a table's last step)
                busy <= 1'b0; done <= 1'b1;
                bld_on <= 1'b1; lk_on <= 1'b0; bld_wait <= 1'b0; lk_wait <= 1'b0; all_built <= 1'b0;
                x_base <= {LW{1'b0}}; m_b <= {LW{1'b0}}; kb_b <= {LW{1'b0}};
                bld_bank <= 1'b0; lk_bank <= 1'b0;
                m_l <= {LW{1'b0}}; y_base <= {LW{1'b0}}; y_ptr <= {LW{1'b0}};
            end else if (step) begin
                if (bld_final) all_built <= 1'b1;
                if (phase_end) begin
                    // a table built in this phase is read in the next; the builder goes on
                    // (DBUF) or after a look-up phase (no DBUF) while tables remain
                    lk_on <= bld_on;
                    bld_on <= ((DBUF != 0) || lk_on) && !(all_built || bld_final);
                    bld_wait <= 1'b0;
                    lk_wait <= 1'b0;
                end else begin
                    if (bld_last) bld_wait <= 1'b1;
                    if (lk_last) lk_wait <= 1'b1;
                end
            end
        end
    end
endmodule
