`timescale 1ns/1ps
// LUT processing element for binary-coded GEMM (ShiftAddLLM / LUT-GEMM), integer path:
//   y[m][n] = sum_i sum_k 2^e[i][n][k/g] * (bit k of plane i, row n ? +x[m][k] : -x[m][k])
// with int8 activations, packed sign bits (bit t of byte kb is column 8*kb + t, 1 = +1),
// power-of-two scales applied as shifts and an int32 accumulator. The cycle model is
// sim/lut_pe.py; the co-simulation holds this module's results and start->done cycles to it.
//
// Buffers, written by the host through the load port before start (ld_sel picks one):
//   0: activations  xbuf[m*K + k]              = x[m][k]            (int8)
//   1: weight bytes wbuf[(kb*N + n)*q + i]     = packed[i][n][kb]   (the order they are used)
//   2: exponents    ebuf[(grp*N + n)*q + i]    = e[i][n][grp]       (EXP_W bits)
// Outputs: ybuf[m*N + n], read through a registered port (rd_data shows rd_addr a cycle later).
//
// Per activation row m and byte position kb, one step per clock:
//   build, 263 cycles: cycles 0..7 run r = 0 - x0, r - x1, ... and write T[0] = -(x0+...+x7) on
//     cycle 7; cycles 8..262 walk entries in Gray-code order, j = c - 7, p = j ^ (j >> 1):
//     exactly bit t = lowest set bit of j changed, so r += p[t] ? 2*x_t : -2*x_t and T[p] = r;
//   look-up, q*N cycles: n outer, plane i inner: y[m][n] (+)= T[wbuf[..]] << ebuf[..]; the
//     first look-up of a row (kb = 0, i = 0) overwrites the accumulator, clearing it for free.
// The start edge is the first build cycle; done rises on the edge of the last look-up, so
// start -> done, both counted, is M * (K/8) * (263 + q*N) cycles (sim/lut_pe.py's lut_cycles).
module lut_pe #(
    parameter XAW   = 6,    // activation buffer address bits (2^XAW entries)
    parameter WAW   = 6,    // weight-byte buffer address bits
    parameter EAW   = 4,    // exponent buffer address bits
    parameter YAW   = 4,    // output buffer address bits
    parameter EXP_W = 4,
    parameter ACC_W = 32,
    parameter LW    = 16    // width of lengths, counters and pointers
) (
    input                  clk,
    input                  rst,
    input                  ld_en,
    input      [1:0]       ld_sel,
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
    input      [YAW-1:0]   rd_addr,
    output reg [ACC_W-1:0] rd_data
);
    localparam TW = 12;                 // |T| <= 8 * 128 = 1024: 12 signed bits
    localparam [8:0] LAST_BUILD = 9'd262;

    reg [7:0]       xbuf [0:(1<<XAW)-1];
    reg [7:0]       wbuf [0:(1<<WAW)-1];
    reg [EXP_W-1:0] ebuf [0:(1<<EAW)-1];
    reg [ACC_W-1:0] ybuf [0:(1<<YAW)-1];
    reg [TW-1:0]    tbl  [0:255];

    always @(posedge clk) begin
        if (ld_en) begin
            if (ld_sel == 2'd0) xbuf[ld_addr[XAW-1:0]] <= ld_data;
            if (ld_sel == 2'd1) wbuf[ld_addr[WAW-1:0]] <= ld_data;
            if (ld_sel == 2'd2) ebuf[ld_addr[EAW-1:0]] <= ld_data[EXP_W-1:0];
        end
    end

    // lengths, latched at start
    reg [LW-1:0] m_q, n_q, kb_q, q_q, bpg_q;
    wire [2*LW-1:0] nq_full = n_q * q_q;
    wire [LW-1:0]   nq      = nq_full[LW-1:0];   // look-ups per byte position

    reg          looking;   // 0: table build, 1: look-up
    reg [8:0]    c;         // build cycle 0..262
    reg [TW-1:0] r;         // running partial sum of the build
    reg [LW-1:0] m_i, kb_i, g_i, n_i, i_i;      // row, byte, byte within group, output row, plane
    reg [LW-1:0] x_base, w_ptr, e_base, e_ptr, y_base, y_ptr;

    wire launch = start & ~busy;
    wire step   = launch | busy;

    // -- build datapath -------------------------------------------------------------------
    function [2:0] lowest_set;   // index of the lowest set bit (v != 0)
        input [7:0] v;
        integer b;
        begin
            lowest_set = 3'd0;
            for (b = 7; b >= 0; b = b - 1)
                if (v[b]) lowest_set = b[2:0];
        end
    endfunction

    wire         first8 = (c < 9'd8);
    wire [8:0]   j9     = c - 9'd7;
    wire [7:0]   j      = j9[7:0];
    wire [7:0]   p      = j ^ {1'b0, j[7:1]};
    wire [2:0]   t_sel  = first8 ? c[2:0] : lowest_set(j);
    wire [LW-1:0] x_addr = x_base + {{(LW-3){1'b0}}, t_sel};
    wire [7:0]   x_raw  = xbuf[x_addr[XAW-1:0]];
    wire [TW-1:0] xv    = {{(TW-8){x_raw[7]}}, x_raw};
    wire [TW-1:0] xv2   = {xv[TW-2:0], 1'b0};
    wire [TW-1:0] r_first = (c == 9'd0) ? {TW{1'b0}} : r;
    wire [TW-1:0] r_next  = first8 ? (r_first - xv) : (p[t_sel] ? r + xv2 : r - xv2);

    // -- look-up datapath ------------------------------------------------------------------
    wire [7:0]       w_byte  = wbuf[w_ptr[WAW-1:0]];
    wire [TW-1:0]    entry   = tbl[w_byte];
    wire [EXP_W-1:0] e_val   = ebuf[e_ptr[EAW-1:0]];
    wire [ACC_W-1:0] entry_x = {{(ACC_W-TW){entry[TW-1]}}, entry};
    wire [ACC_W-1:0] shifted = entry_x << e_val;
    wire [ACC_W-1:0] y_old   = ybuf[y_ptr[YAW-1:0]];
    wire             first_lookup = (kb_i == {LW{1'b0}}) && (i_i == {LW{1'b0}});
    wire [LW-1:0]    one = {{(LW-1){1'b0}}, 1'b1};
    wire last_plane = (i_i == q_q - one);
    wire last_n     = (n_i == n_q - one);
    wire last_kb    = (kb_i == kb_q - one);
    wire last_m     = (m_i == m_q - one);
    wire group_end  = (g_i == bpg_q - one);

    always @(posedge clk) begin
        if (rst) begin
            busy <= 1'b0;
            done <= 1'b0;
            looking <= 1'b0;
            c <= 9'd0;
            r <= {TW{1'b0}};
            m_i <= {LW{1'b0}}; kb_i <= {LW{1'b0}}; g_i <= {LW{1'b0}}; n_i <= {LW{1'b0}}; i_i <= {LW{1'b0}};
            x_base <= {LW{1'b0}}; w_ptr <= {LW{1'b0}}; e_base <= {LW{1'b0}}; e_ptr <= {LW{1'b0}};
            y_base <= {LW{1'b0}}; y_ptr <= {LW{1'b0}};
            m_q <= {LW{1'b0}}; n_q <= {LW{1'b0}}; kb_q <= {LW{1'b0}}; q_q <= {LW{1'b0}}; bpg_q <= {LW{1'b0}};
        end else begin
            done <= 1'b0;
            if (launch) begin
                busy <= 1'b1;
                m_q <= m_len; n_q <= n_len; kb_q <= kb_len; q_q <= q_len; bpg_q <= bpg_len;
            end
            if (step && !looking) begin
                r <= r_next;
                if (c == 9'd7) tbl[8'd0] <= r_next;
                if (!first8) tbl[p] <= r_next;
                if (c == LAST_BUILD) begin
                    c <= 9'd0;
                    looking <= 1'b1;
                end else begin
                    c <= c + 9'd1;
                end
            end else if (step) begin
                ybuf[y_ptr[YAW-1:0]] <= first_lookup ? shifted : y_old + shifted;
                w_ptr <= w_ptr + one;
                e_ptr <= e_ptr + one;
                if (!last_plane) begin
                    i_i <= i_i + one;
                end else begin
                    i_i <= {LW{1'b0}};
                    if (!last_n) begin
                        n_i <= n_i + one;
                        y_ptr <= y_ptr + one;
                    end else begin
                        // end of a byte position: build the next table
                        n_i <= {LW{1'b0}};
                        looking <= 1'b0;
                        x_base <= x_base + {{(LW-4){1'b0}}, 4'd8};
                        if (!last_kb) begin
                            kb_i <= kb_i + one;
                            y_ptr <= y_base;
                            if (group_end) begin
                                g_i <= {LW{1'b0}};
                                e_base <= e_base + nq;
                                e_ptr <= e_base + nq;
                            end else begin
                                g_i <= g_i + one;
                                e_ptr <= e_base;
                            end
                        end else begin
                            // end of an activation row
                            kb_i <= {LW{1'b0}}; g_i <= {LW{1'b0}};
                            e_base <= {LW{1'b0}}; e_ptr <= {LW{1'b0}}; w_ptr <= {LW{1'b0}};
                            if (!last_m) begin
                                m_i <= m_i + one;
                                y_base <= y_base + n_q;
                                y_ptr <= y_base + n_q;
                            end else begin
                                // last look-up of the GEMM: back to idle, counters cleared
                                m_i <= {LW{1'b0}};
                                x_base <= {LW{1'b0}};
                                y_base <= {LW{1'b0}};
                                y_ptr <= {LW{1'b0}};
                                busy <= 1'b0;
                                done <= 1'b1;
                            end
                        end
                    end
                end
            end
        end
    end

    always @(posedge clk) begin
        rd_data <= ybuf[rd_addr];
    end
endmodule
