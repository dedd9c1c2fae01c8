`timescale 1ns/1ps
// Stripes-style bit-serial dot-product PE (Judd et al., MICRO 2016; sim/bitserial.py).
//
// Modules:
//   stripes_pe   the serial inner-product unit: LANES weights (W_W bits, two's complement) in
//                parallel, one activation bit per lane per cycle; the lanes' AND terms are summed
//                in an adder tree, the sum shifted by the bit position and added into the
//                accumulator (subtracted on the MSB cycle of signed activations). `fin` writes
//                result = acc.
//   stripes_dot  the co-simulation top: operand buffers loaded by the host, start/done, the walk
//                over groups of LANES elements and their A_W bit positions (LSB first).
//
// Cycles from the start edge to done, both counted (sim/bitserial.py, dot_cycles):
//   1 (start: latch K, clear) + ceil(K / LANES) * A_W + 1 (fin: result, done)
// Exact arithmetic modulo 2^ACC_W: exact while the dot product fits, which the model checks.

module stripes_pe #(
    parameter A_W      = 8,
    parameter W_W      = 8,
    parameter LANES    = 16,
    parameter ACC_W    = 32,
    parameter A_SIGNED = 1
) (
    input                      clk,
    input                      rst,
    input                      clr,          // start edge: clear the accumulator
    input                      run,          // a compute cycle
    input                      fin,          // write result
    input      [4:0]           bitpos,       // activation bit i of this cycle
    input      [LANES-1:0]     lane_valid,
    input      [LANES*A_W-1:0] a_grp,        // lane l at [l*A_W +: A_W]
    input      [LANES*W_W-1:0] w_grp,        // lane l at [l*W_W +: W_W]
    output reg [ACC_W-1:0]     result
);
    // the lanes' AND terms: |sum| <= LANES * 2^(W_W-1), so W_W + clog2(LANES) + 1 bits hold it
    localparam TW0 = W_W + $clog2(LANES) + 1;
    localparam TW  = (TW0 < ACC_W) ? TW0 : ACC_W;

    reg  [ACC_W-1:0]    acc;
    wire [ACC_W-1:0]    tree;     // sum of the selected weights, sign-extended
    wire [LANES*TW-1:0] terms;
    genvar l;
    generate
        for (l = 0; l < LANES; l = l + 1) begin : g_and
            wire [A_W-1:0] a_l  = a_grp[l*A_W +: A_W];
            wire [W_W-1:0] w_l  = w_grp[l*W_W +: W_W];
            wire [A_W-1:0] a_sh = a_l >> bitpos;
            assign terms[l*TW +: TW] = (lane_valid[l] & a_sh[0]) ? {{(TW-W_W){w_l[W_W-1]}}, w_l} : {TW{1'b0}};
        end
    endgenerate
    bitserial_add_tree #(.N(LANES), .W(TW), .OUT_W(ACC_W)) u_tree (.terms(terms), .sum(tree));

    wire [ACC_W-1:0] shifted = tree << bitpos;
    wire             msb     = (A_SIGNED != 0) && ({27'd0, bitpos} == A_W - 1);

    always @(posedge clk) begin
        if (rst | clr)
            acc <= {ACC_W{1'b0}};
        else if (run)
            acc <= msb ? (acc - shifted) : (acc + shifted);
    end

    always @(posedge clk) begin
        if (rst)
            result <= {ACC_W{1'b0}};
        else if (fin)
            result <= acc;
    end
endmodule


module stripes_dot #(
    parameter A_W      = 8,
    parameter W_W      = 8,
    parameter LANES    = 16,
    parameter ACC_W    = 32,
    parameter A_SIGNED = 1,
    parameter DEPTH    = 16    // operand buffer depth: a multiple of LANES, >= 4
) (
    input                          clk,
    input                          rst,
    input                          ld_en,
    input      [$clog2(DEPTH)-1:0] ld_addr,
    input      [A_W-1:0]           ld_a,
    input      [W_W-1:0]           ld_w,
    input                          start,
    input      [$clog2(DEPTH):0]   k_len,    // K, 1..DEPTH
    output                         busy,
    output reg                     done,
    output     [ACC_W-1:0]         result
);
    localparam AW = $clog2(DEPTH);
    localparam [1:0] IDLE = 2'd0, RUN = 2'd1, FIN = 2'd2;

    reg [A_W-1:0] a_buf [0:DEPTH-1];
    reg [W_W-1:0] w_buf [0:DEPTH-1];

    reg [1:0]  state;
    reg [AW:0] k_q;
    reg [AW:0] base;     // first element of the current group
    reg [4:0]  bitpos;

    wire launch = start & (state == IDLE);
    wire run    = (state == RUN);
    wire fin    = (state == FIN);
    // group bookkeeping in 32 bits (no width truncation of the parameters)
    wire [31:0] base32     = {{(31-AW){1'b0}}, base};
    wire [31:0] k32        = {{(31-AW){1'b0}}, k_q};
    wire [31:0] next_base  = base32 + LANES;
    wire        last_group = (next_base >= k32);

    wire [LANES*A_W-1:0] a_grp;
    wire [LANES*W_W-1:0] w_grp;
    wire [LANES-1:0]     lane_valid;
    genvar i;
    generate
        for (i = 0; i < LANES; i = i + 1) begin : g_lane
            wire [31:0] addr = base32 + i;
            assign lane_valid[i]         = (addr < k32);
            assign a_grp[i*A_W +: A_W]   = lane_valid[i] ? a_buf[addr[AW-1:0]] : {A_W{1'b0}};
            assign w_grp[i*W_W +: W_W]   = lane_valid[i] ? w_buf[addr[AW-1:0]] : {W_W{1'b0}};
        end
    endgenerate

    always @(posedge clk) begin
        if (ld_en) begin
            a_buf[ld_addr] <= ld_a;
            w_buf[ld_addr] <= ld_w;
        end
    end

    stripes_pe #(.A_W(A_W), .W_W(W_W), .LANES(LANES), .ACC_W(ACC_W), .A_SIGNED(A_SIGNED)) u_pe (
        .clk(clk), .rst(rst), .clr(launch), .run(run), .fin(fin), .bitpos(bitpos),
        .lane_valid(lane_valid), .a_grp(a_grp), .w_grp(w_grp), .result(result));

    assign busy = (state != IDLE);

    always @(posedge clk) begin
        if (rst) begin
            state  <= IDLE;
            done   <= 1'b0;
            k_q    <= {(AW+1){1'b0}};
            base   <= {(AW+1){1'b0}};
            bitpos <= 5'd0;
        end else begin
            done <= 1'b0;
            case (state)
                IDLE: if (launch) begin
                    state  <= RUN;
                    k_q    <= k_len;
                    base   <= {(AW+1){1'b0}};
                    bitpos <= 5'd0;
                end
                RUN: if ({27'd0, bitpos} == A_W - 1) begin
                    bitpos <= 5'd0;
                    if (last_group)
                        state <= FIN;
                    else
                        base <= next_base[AW:0];
                end else begin
                    bitpos <= bitpos + 5'd1;
                end
                default: begin   // FIN: result <= acc; done rises with it
                    state <= IDLE;
                    done  <= 1'b1;
                end
            endcase
        end
    end
endmodule
