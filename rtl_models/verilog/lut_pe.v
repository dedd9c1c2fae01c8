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
//   build, 263 cycles: lut_builder.v writes the 256 entries T[p] = sum_t (p[t] ? +x_t : -x_t)
//     of the byte's activations x0..x7 (8 cycles for T[0], then a Gray-code walk, one entry each);
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
    reg [LW-1:0] m_i, kb_i, g_i, n_i, i_i;      // row, byte, byte within group, output row, plane
    reg [LW-1:0] x_base, w_ptr, e_base, e_ptr, y_base, y_ptr;

    wire launch = start & ~busy;
    wire step   = launch | busy;

    // -- build datapath: the Gray-code builder (lut_builder.v), writing tbl ------------------
    wire [LW-1:0] x_addr;
    wire          tbl_we, build_last;
    wire [7:0]    tbl_entry;
    wire [TW-1:0] tbl_data;
    lut_builder #(.LW(LW), .TW(TW)) u_build (
        .clk(clk), .rst(rst), .en(step && !looking),
        .x_base(x_base), .x_addr(x_addr), .x_data(xbuf[x_addr[XAW-1:0]]),
        .we(tbl_we), .wr_entry(tbl_entry), .wr_data(tbl_data), .last(build_last)
    );

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
            if (tbl_we) tbl[tbl_entry] <= tbl_data;
            if (build_last) looking <= 1'b1;
            if (step && looking) begin
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
