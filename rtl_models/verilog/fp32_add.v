`timescale 1ns/1ps
// IEEE 754 binary32 adder, combinational: round to nearest, ties to even, subnormal inputs and
// outputs handled (no flush-to-zero), overflow to +-Inf. Bit-exact to sim/fp8.py's
// fp32_add_bits (numpy float32 addition) with every NaN the canonical 32'h7FC00000.
// Zeros: x + (-x) = +0 (round to nearest), (-0) + (-0) = -0, (+0) + (-0) = +0.
//
// Datapath: order the operands so |x| >= |y|; align y's significand to x's exponent keeping
// three extra bits (guard, round, sticky: everything shifted past them ORed into the sticky);
// add or subtract; normalise (one right shift on a carry, or a left shift by the leading zeros,
// stopped at exponent 1 so that a tiny result becomes subnormal); round to nearest even on the
// guard/round/sticky bits. Three extra bits suffice: a left shift of more than one place only
// happens when the exponents differ by at most one, and then no bit was shifted out.
module fp32_add (
    input  [31:0] a,
    input  [31:0] b,
    output [31:0] s
);
    wire a_nan = (&a[30:23]) & (|a[22:0]);
    wire b_nan = (&b[30:23]) & (|b[22:0]);
    wire a_inf = (&a[30:23]) & ~(|a[22:0]);
    wire b_inf = (&b[30:23]) & ~(|b[22:0]);

    // x: the operand of larger magnitude (bits 30:0 compare as magnitudes)
    wire        swap = b[30:0] > a[30:0];
    wire [31:0] x = swap ? b : a;
    wire [31:0] y = swap ? a : b;
    wire [7:0]  ex = (|x[30:23]) ? x[30:23] : 8'd1;  // subnormals sit at exponent 1
    wire [7:0]  ey = (|y[30:23]) ? y[30:23] : 8'd1;
    wire [23:0] mx = {|x[30:23], x[22:0]};
    wire [23:0] my = {|y[30:23], y[22:0]};
    wire        sub = x[31] ^ y[31];

    // alignment: 27 bits = 24 significand + guard + round + sticky
    wire [7:0]  d = ex - ey;
    wire [26:0] xs = {mx, 3'b000};
    wire [49:0] yw = {my, 26'b0} >> ((d > 8'd26) ? 8'd26 : d);   // at most 26 places
    wire        far = d > 8'd26;                                  // y lies wholly below the sticky
    wire [26:0] ys = far ? {26'b0, |my} : {yw[49:24], |yw[23:0]};

    wire [27:0] sum = sub ? ({1'b0, xs} - {1'b0, ys}) : ({1'b0, xs} + {1'b0, ys});

    // leading zeros of sum[26:0] (27 when zero)
    function [4:0] lzc27;
        input [26:0] v;
        integer i;
        reg found;
        begin
            lzc27 = 5'd27;
            found = 1'b0;
            for (i = 26; i >= 0; i = i - 1)
                if (!found && v[i]) begin
                    lzc27 = 5'd26 - i[4:0];
                    found = 1'b1;
                end
        end
    endfunction

    wire [4:0]  lz = lzc27(sum[26:0]);
    // left shift limited so the exponent does not drop below 1 (then the result is subnormal)
    wire [7:0]  lmax = ex - 8'd1;
    wire [7:0]  lsh = ({3'b0, lz} > lmax) ? lmax : {3'b0, lz};
    wire [26:0] left = sum[26:0] << lsh;
    wire [26:0] norm = sum[27] ? {sum[27:2], sum[1] | sum[0]} : left;
    wire [8:0]  e_n  = sum[27] ? ({1'b0, ex} + 9'd1) : ({1'b0, ex} - {1'b0, lsh});
    // the exponent field: 0 when the hidden bit is 0 (subnormal, e_n = 1)
    wire [7:0]  e_f  = norm[26] ? e_n[7:0] : 8'd0;

    // round to nearest even: lsb = norm[3], guard = norm[2], round|sticky = norm[1:0]
    wire        up = norm[2] & (norm[3] | norm[1] | norm[0]);
    // adding 1 to {exponent, fraction} carries a fraction overflow into the exponent, turns the
    // largest subnormal into the smallest normal and the largest finite into Inf
    wire [31:0] rounded = {1'b0, e_f, norm[25:3]} + {31'b0, up};
    wire        ovf = e_n >= 9'd255;   // the carry pushed the exponent past the largest finite
    wire        zero = ~(|sum);
    // an exact zero sum: -0 only when both operands are -0 (x + (-x) = +0 under RNE)
    wire        zsign = x[31] & y[31];

    assign s = (a_nan | b_nan | (a_inf & b_inf & (a[31] ^ b[31]))) ? 32'h7FC00000 :
               (a_inf | b_inf) ? {(a_inf ? a[31] : b[31]), 8'hFF, 23'b0} :
               zero ? {zsign, 31'b0} :
               ovf  ? {x[31], 8'hFF, 23'b0} :
                      {x[31], rounded[30:0]};
endmodule

// LANES independent adders side by side: lane i adds a[i*32 +: 32] and b[i*32 +: 32].
module fp32_add_array #(
    parameter LANES = 64
) (
    input  [LANES*32-1:0] a,
    input  [LANES*32-1:0] b,
    output [LANES*32-1:0] s
);
    genvar i;
    generate
        for (i = 0; i < LANES; i = i + 1) begin : g_lane
            fp32_add u_add (.a(a[i*32 +: 32]), .b(b[i*32 +: 32]), .s(s[i*32 +: 32]));
        end
    endgenerate
endmodule
