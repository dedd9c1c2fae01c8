`timescale 1ns/1ps
// A bench-side host around a systolic array (DATAFLOW 0: os_systolic_array, 1: ws_systolic_array):
// the per-cycle operand streaming of a whole GEMM moves into the simulator, so the Python bench
// acts once per workload, not once per clock edge.
//
// Not hardware to synthesise (it reads and writes files, outside SYNTHESIS): the co-simulation's driver, doing
// what rtl_models/benches/systolic_bench.py's port driver does edge by edge, through the same
// ports, with the same cycle count (rtl_models/benches/common.py: count_cycles_to_done).
//
// Per workload the bench (rtl_models/benches/systolic_host_bench.py) writes three memory images
// into the simulator's working folder and pulses go with their lengths:
//   host_a.hex  the A operand, one word per row of the array's A port (OS: R lanes of a k-slice;
//               WS: R lanes of an activation row's k-tile), lane 0 in the low bits
//   host_b.hex  the B operand, one word of C lanes per k of an n-tile
//   host_f.hex  the fold table, one word per fold in order (field layout below)
// On go the host reads them ($readmemh) and runs every fold: it writes the fold's operands through
// the load ports, one address per cycle (OS: t k-slices, A word a_base+i and B word b_base+i to
// address i; WS: the R weight rows b_base+i and the t activation rows a_base+i side by side),
// pulses start with t_len = t (and accumulate, WS), counts the rising edges from the one that
// samples start to the one after which done is high (both counted) and, when the fold has
// rows > 0 (its output tile is final), reads those rows through the registered read port into the
// C image at c_base. It then writes host_c.hex (one word of C lanes per output row) and
// host_cyc.hex (one word per fold: {flags[3:0], cycles[31:0]}) and pulses done_h. Flags: 1 busy
// did not rise with start, 2 busy still high when done rose, 4 done not seen within the fold's
// limit (the run stops there).
//
// Fold word (177 bits), low to high: a_base[31:0], b_base[63:32], t[95:64], rows[111:96],
// c_base[143:112], limit[175:144], accumulate[176].
module systolic_host #(
    parameter DATAFLOW = 0,   // 0: output-stationary, 1: weight-stationary
    parameter R       = 4,
    parameter C       = 4,
    parameter A_W     = 8,
    parameter B_W     = 8,
    parameter ACC_W   = 32,
    parameter DEPTH   = 16,
    parameter PE_KIND = 0,
    parameter A_AW    = 16,   // address bits of the A image (2^A_AW words)
    parameter B_AW    = 16,
    parameter C_AW    = 14,
    parameter F_AW    = 12
) (
    input             clk,
    input             rst,
    input             go,        // one cycle: read the images and run the fold table
    input      [31:0] n_a,       // words in host_a.hex, host_b.hex, folds in host_f.hex, C words to write
    input      [31:0] n_b,
    input      [31:0] n_folds,
    input      [31:0] n_c,
    output reg        busy_h,
    output reg        done_h,    // one cycle, after host_c.hex and host_cyc.hex are written
    output reg [31:0] folds_run  // folds completed (n_folds unless a fold timed out)
);
    localparam F_W = 177;
    localparam AW  = $clog2(DEPTH);
    localparam RAW = $clog2(R > 1 ? R : 2);
    localparam RDW = (DATAFLOW == 0) ? RAW : AW;   // the read port's address: OS R rows, WS DEPTH rows
    localparam [31:0] R32 = R;

    reg [R*A_W-1:0]   amem   [0:(1<<A_AW)-1];
    reg [C*B_W-1:0]   bmem   [0:(1<<B_AW)-1];
    reg [C*ACC_W-1:0] cmem   [0:(1<<C_AW)-1];
    reg [F_W-1:0]     fmem   [0:(1<<F_AW)-1];
    reg [35:0]        cycmem [0:(1<<F_AW)-1];

    // the signals the host drives into the array (registered: they change on rising edges)
    reg               a_en, b_en, start, acc;
    reg  [AW-1:0]     a_addr;
    reg  [RAW-1:0]    w_addr;
    reg  [R*A_W-1:0]  a_word;
    reg  [C*B_W-1:0]  b_word;
    reg  [AW:0]       t_len;
    reg  [RDW-1:0]    rd_addr;
    wire              busy, done;
    wire [C*ACC_W-1:0] rd_data;

    generate
        if (DATAFLOW == 0) begin : g_os
            // one load port: address i takes A's k-slice and B's k-row together
            os_systolic_array #(.R(R), .C(C), .A_W(A_W), .B_W(B_W), .ACC_W(ACC_W), .DEPTH(DEPTH),
                                .PE_KIND(PE_KIND)) u_array (
                .clk(clk), .rst(rst), .ld_en(a_en), .ld_addr(a_addr), .ld_a(a_word), .ld_b(b_word),
                .start(start), .t_len(t_len), .busy(busy), .done(done), .rd_addr(rd_addr), .rd_data(rd_data)
            );
        end else begin : g_ws
            ws_systolic_array #(.R(R), .C(C), .A_W(A_W), .B_W(B_W), .ACC_W(ACC_W), .DEPTH(DEPTH),
                                .PE_KIND(PE_KIND)) u_array (
                .clk(clk), .rst(rst), .w_en(b_en), .w_addr(w_addr), .w_data(b_word),
                .a_en(a_en), .a_addr(a_addr), .a_data(a_word), .start(start), .t_len(t_len),
                .accumulate(acc), .busy(busy), .done(done), .rd_addr(rd_addr), .rd_data(rd_data)
            );
        end
    endgenerate

    localparam S_IDLE = 3'd0, S_FETCH = 3'd1, S_LOAD = 3'd2, S_START = 3'd3, S_RUN = 3'd4,
               S_READ = 3'd5, S_NEXT = 3'd6, S_DUMP = 3'd7;
    reg [2:0]     st;
    reg [F_W-1:0] fw;
    reg [31:0]    fi, i, cnt;
    reg [3:0]     flags;
    reg           first;

    wire [31:0] a_base = fw[31:0];
    wire [31:0] b_base = fw[63:32];
    wire [31:0] t      = fw[95:64];
    wire [31:0] rows   = {16'd0, fw[111:96]};
    wire [31:0] c_base = fw[143:112];
    wire [31:0] limit  = fw[175:144];
    wire        f_acc  = fw[176];
    // cycles of the load phase: OS t k-slices; WS R weight rows beside t activation rows
    wire [31:0] n_load = (DATAFLOW == 0) ? t : ((t > R32) ? t : R32);

    always @(posedge clk) begin
        if (rst) begin
            st <= S_IDLE;
            busy_h <= 1'b0;
            done_h <= 1'b0;
            folds_run <= 32'd0;
            a_en <= 1'b0;
            b_en <= 1'b0;
            start <= 1'b0;
            acc <= 1'b0;
            a_addr <= {AW{1'b0}};
            w_addr <= {RAW{1'b0}};
            a_word <= {R*A_W{1'b0}};
            b_word <= {C*B_W{1'b0}};
            t_len <= {(AW+1){1'b0}};
            rd_addr <= {RDW{1'b0}};
        end else begin
            done_h <= 1'b0;
            start <= 1'b0;
            a_en <= 1'b0;
            b_en <= 1'b0;
            case (st)
                S_IDLE: if (go) begin
`ifndef SYNTHESIS  // yosys defines it: a synthesis tool that reads every file sees no file I/O
                    $readmemh("host_a.hex", amem, 0, n_a - 1);
                    $readmemh("host_b.hex", bmem, 0, n_b - 1);
                    $readmemh("host_f.hex", fmem, 0, n_folds - 1);
`endif
                    busy_h <= 1'b1;
                    fi <= 32'd0;
                    folds_run <= 32'd0;
                    st <= (n_folds == 0) ? S_DUMP : S_FETCH;
                end
                S_FETCH: begin
                    fw <= fmem[fi[F_AW-1:0]];
                    i <= 32'd0;
                    st <= S_LOAD;
                end
                S_LOAD: if (i == n_load) begin
                    start <= 1'b1;              // sampled by the next edge: the fold's first cycle
                    t_len <= t[AW:0];
                    acc <= f_acc;
                    st <= S_START;
                end else begin
                    a_en <= (i < t);
                    a_addr <= i[AW-1:0];
                    a_word <= amem[(a_base + i) & ((1 << A_AW) - 1)];
                    b_en <= (i < R32);
                    w_addr <= i[RAW-1:0];
                    b_word <= bmem[(b_base + i) & ((1 << B_AW) - 1)];
                    i <= i + 32'd1;
                end
                S_START: begin                  // this edge samples start: cycle 1 of the count
                    cnt <= 32'd1;
                    flags <= 4'd0;
                    first <= 1'b1;
                    st <= S_RUN;
                end
                S_RUN: begin                    // busy and done as they were after the last edge
                    first <= 1'b0;
                    if (first && !done && !busy)
                        flags[0] <= 1'b1;
                    if (done) begin
                        cycmem[fi[F_AW-1:0]] <= {flags[3:2], busy, flags[0], cnt};
                        folds_run <= fi + 32'd1;
                        i <= 32'd0;
                        st <= (rows != 32'd0) ? S_READ : S_NEXT;
                    end else if (cnt >= limit) begin
                        cycmem[fi[F_AW-1:0]] <= {4'b0100 | flags, cnt};
                        st <= S_DUMP;
                    end else begin
                        cnt <= cnt + 32'd1;
                    end
                end
                S_READ: begin                   // registered port: row i's word arrives two edges later
                    if (i < rows)
                        rd_addr <= i[RDW-1:0];
                    if (i >= 32'd2)
                        cmem[(c_base + i - 32'd2) & ((1 << C_AW) - 1)] <= rd_data;
                    i <= i + 32'd1;
                    if (i == rows + 32'd1)
                        st <= S_NEXT;
                end
                S_NEXT: begin
                    fi <= fi + 32'd1;
                    st <= (fi + 32'd1 == n_folds) ? S_DUMP : S_FETCH;
                end
                S_DUMP: begin
`ifndef SYNTHESIS
                    $writememh("host_c.hex", cmem, 0, (n_c == 0 ? 1 : n_c) - 1);
                    $writememh("host_cyc.hex", cycmem, 0, (n_folds == 0 ? 1 : n_folds) - 1);
`endif
                    busy_h <= 1'b0;
                    done_h <= 1'b1;
                    st <= S_IDLE;
                end
                default: st <= S_IDLE;
            endcase
        end
    end
endmodule
