`timescale 1ns/1ps
// 2D-matrix (broadcast) engine: an R x C grid of PEs adding outer products (sim/broadcast.py).
//
// Each clock with in_valid, a column of A (a_col, R values) and a row of B (b_row, C values) are
// registered at the grid's edge; on the next clock PE (i, j) adds a_i * b_j (the registers hold 0
// when in_valid is low, so the accumulators keep their sums). `clear` empties every accumulator
// instead of adding. The PEs are the systolic array's (PE_KIND 0: mac_pe; 1: booth_csa_pe, the TPE
// paper's OPT1 with its (sum, carry) accumulator); their forwarding outputs are left unused.
// Read-out: rd_en with rd_row registers that row's C results on rd_data (rd_valid with it); with
// OPT1 the row's (sum, carry) words are registered first and added over the next two clocks.
module bcast_matrix #(
    parameter R       = 4,
    parameter C       = 4,
    parameter A_W     = 8,
    parameter B_W     = 8,
    parameter ACC_W   = 32,
    parameter PE_KIND = 0,
    parameter ROW_W   = 6    // width of rd_row (R <= 2^ROW_W)
) (
    input                    clk,
    input                    rst,
    input                    clear,
    input                    in_valid,
    input  [R*A_W-1:0]       a_col,
    input  [C*B_W-1:0]       b_row,
    input                    rd_en,
    input  [ROW_W-1:0]       rd_row,
    output reg               rd_valid,
    output reg [C*ACC_W-1:0] rd_data
);
    reg [R*A_W-1:0] a_r;
    reg [C*B_W-1:0] b_r;
    always @(posedge clk) begin
        if (rst || !in_valid) begin
            a_r <= {R*A_W{1'b0}};
            b_r <= {C*B_W{1'b0}};
        end else begin
            a_r <= a_col;
            b_r <= b_row;
        end
    end

    wire [R*C*ACC_W-1:0] acc_s;   // PE (i, j) at [(i*C + j)*ACC_W +: ACC_W]: the sum word (or the sum)
    wire [R*C*ACC_W-1:0] acc_c;   // and the carry word (OPT1; zero for the MAC PE)
    genvar i, j;
    generate
        for (i = 0; i < R; i = i + 1) begin : row
            for (j = 0; j < C; j = j + 1) begin : col
                wire [A_W-1:0] a_unused;
                wire [B_W-1:0] b_unused;
                if (PE_KIND == 0) begin : g_mac
                    mac_pe #(.A_W(A_W), .B_W(B_W), .ACC_W(ACC_W)) u_pe (
                        .clk(clk), .rst(rst), .drain(clear),
                        .a_in(a_r[i*A_W +: A_W]), .b_in(b_r[j*B_W +: B_W]), .acc_in({ACC_W{1'b0}}),
                        .a_out(a_unused), .b_out(b_unused), .acc_out(acc_s[(i*C + j)*ACC_W +: ACC_W]));
                    assign acc_c[(i*C + j)*ACC_W +: ACC_W] = {ACC_W{1'b0}};
                end else begin : g_csa
                    booth_csa_pe #(.A_W(A_W), .B_W(B_W), .ACC_W(ACC_W)) u_pe (
                        .clk(clk), .rst(rst), .drain(clear),
                        .a_in(a_r[i*A_W +: A_W]), .b_in(b_r[j*B_W +: B_W]),
                        .sum_in({ACC_W{1'b0}}), .carry_in({ACC_W{1'b0}}),
                        .a_out(a_unused), .b_out(b_unused),
                        .sum_out(acc_s[(i*C + j)*ACC_W +: ACC_W]), .carry_out(acc_c[(i*C + j)*ACC_W +: ACC_W]));
                end
            end
        end
    endgenerate

    generate
        if (PE_KIND == 0) begin : g_read_mac
            always @(posedge clk) begin
                if (rst) begin
                    rd_valid <= 1'b0;
                    rd_data  <= {C*ACC_W{1'b0}};
                end else begin
                    rd_valid <= rd_en;
                    if (rd_en) rd_data <= acc_s[rd_row*C*ACC_W +: C*ACC_W];
                end
            end
        end else begin : g_read_csa
            // the row's (sum, carry) words are registered, then added in two halves over two more
            // clocks, so the 32-bit carry chain never sets the clock (the OS array does the same)
            localparam H = ACC_W / 2;
            reg [C*ACC_W-1:0] s_r, c_r;
            reg [C*(H+1)-1:0] lo_r;                  // low-half sums with their carry out
            reg [C*(ACC_W-H)-1:0] sh_r, ch_r;        // high halves, waiting for that carry
            reg v1, v2;
            integer n;
            always @(posedge clk) begin
                if (rst) begin
                    v1       <= 1'b0;
                    v2       <= 1'b0;
                    rd_valid <= 1'b0;
                    s_r      <= {C*ACC_W{1'b0}};
                    c_r      <= {C*ACC_W{1'b0}};
                    lo_r     <= {C*(H+1){1'b0}};
                    sh_r     <= {C*(ACC_W-H){1'b0}};
                    ch_r     <= {C*(ACC_W-H){1'b0}};
                    rd_data  <= {C*ACC_W{1'b0}};
                end else begin
                    v1       <= rd_en;
                    v2       <= v1;
                    rd_valid <= v2;
                    if (rd_en) begin
                        s_r <= acc_s[rd_row*C*ACC_W +: C*ACC_W];
                        c_r <= acc_c[rd_row*C*ACC_W +: C*ACC_W];
                    end
                    if (v1)
                        for (n = 0; n < C; n = n + 1) begin
                            lo_r[n*(H+1) +: H+1] <= {1'b0, s_r[n*ACC_W +: H]} + {1'b0, c_r[n*ACC_W +: H]};
                            sh_r[n*(ACC_W-H) +: ACC_W-H] <= s_r[n*ACC_W+H +: ACC_W-H];
                            ch_r[n*(ACC_W-H) +: ACC_W-H] <= c_r[n*ACC_W+H +: ACC_W-H];
                        end
                    if (v2)
                        for (n = 0; n < C; n = n + 1)
                            rd_data[n*ACC_W +: ACC_W] <= {sh_r[n*(ACC_W-H) +: ACC_W-H] + ch_r[n*(ACC_W-H) +: ACC_W-H]
                                                          + {{(ACC_W-H-1){1'b0}}, lo_r[n*(H+1)+H]},
                                                          lo_r[n*(H+1) +: H]};
                end
            end
        end
    endgenerate
endmodule
