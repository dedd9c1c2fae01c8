`timescale 1ns/1ps
// Gray-code table builder of the LUT engines (lut_pe.v, lut_array.v): from the 8 int8
// activations x0..x7 of one activation byte it writes the 256-entry table
//   T[p] = sum_t (bit t of p ? +x_t : -x_t),   |T| <= 8 * 128 = 1024: TW = 12 signed bits,
// one step per enabled clock, 263 steps per table:
//   steps 0..7 run r = 0 - x0, r - x1, ... and write T[0] = -(x0+...+x7) on step 7;
//   steps 8..262 walk the entries in Gray-code order, j = c - 7, p = j ^ (j >> 1): exactly bit
//   t = lowest set bit of j changed, so r += p[t] ? 2*x_t : -2*x_t and T[p] = r.
// The activations and the table stay in the parent: the builder names the activation it reads
// this step (x_addr = x_base + t, read back combinationally as x_data) and the table write
// (we, wr_entry, wr_data). last marks the table's final step; the step counter then wraps to 0,
// so an idle builder (en low) always waits at step 0, ready for the next table.
module lut_builder #(
    parameter LW = 16,   // width of activation addresses
    parameter TW = 12    // table entry width
) (
    input           clk,
    input           rst,
    input           en,        // one build step this clock
    input  [LW-1:0] x_base,    // address of the byte's x0 in the parent's activation buffer
    output [LW-1:0] x_addr,    // the activation this step reads ...
    input  [7:0]    x_data,    // ... and its value, xbuf[x_addr]
    output          we,        // write T[wr_entry] <= wr_data on this clock
    output [7:0]    wr_entry,
    output [TW-1:0] wr_data,
    output          last       // en on the table's last step (263 steps after its first)
);
    localparam [8:0] LAST_BUILD = 9'd262;

    reg [8:0]    c;   // build step 0..262
    reg [TW-1:0] r;   // running partial sum

    function [2:0] lowest_set;   // index of the lowest set bit (v != 0)
        input [7:0] v;
        integer b;
        begin
            lowest_set = 3'd0;
            for (b = 7; b >= 0; b = b - 1)
                if (v[b]) lowest_set = b[2:0];
        end
    endfunction

    wire          first8  = (c < 9'd8);
    wire [8:0]    j9      = c - 9'd7;
    wire [7:0]    j       = j9[7:0];
    wire [7:0]    p       = j ^ {1'b0, j[7:1]};
    wire [2:0]    t_sel   = first8 ? c[2:0] : lowest_set(j);
    wire [TW-1:0] xv      = {{(TW-8){x_data[7]}}, x_data};
    wire [TW-1:0] xv2     = {xv[TW-2:0], 1'b0};
    wire [TW-1:0] r_first = (c == 9'd0) ? {TW{1'b0}} : r;

    assign x_addr   = x_base + {{(LW-3){1'b0}}, t_sel};
    assign wr_data  = first8 ? (r_first - xv) : (p[t_sel] ? r + xv2 : r - xv2);
    assign wr_entry = first8 ? 8'd0 : p;
    assign we       = en && (c >= 9'd7);
    assign last     = en && (c == LAST_BUILD);

    always @(posedge clk) begin
        if (rst) begin
            c <= 9'd0;
            r <= {TW{1'b0}};
        end else if (en) begin
            r <= wr_data;
            c <= (c == LAST_BUILD) ? 9'd0 : c + 9'd1;
        end
    end
endmodule
