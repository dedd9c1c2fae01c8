`timescale 1ns/1ps
// Exact FP8 x FP8 -> FP32 multiplier, combinational. Operand formats by parameter:
// FMT_A / FMT_B = 0: e4m3 (OCP E4M3FN, bias 7, no Inf, NaN = S.1111.111), 1: e5m2 (bias 15,
// Inf = S.11111.00, NaN = S.11111.{01,10,11}). The golden model is sim/fp8.py
// (fp8_product_bits); the bench checks all 256 x 256 operand pairs bit for bit.
//
// The product is exact: significands of at most 4 bits give at most 8 product bits, and the
// magnitude lies in [2^-32, 2^31.6], inside FP32's normal range, so there is no rounding and no
// FP32 subnormal: normalising the integer product (shift its leading one to the hidden bit) is
// all there is. Specials as IEEE 754: sign = XOR of signs (zeros too), NaN * x = NaN,
// Inf * 0 = NaN, Inf * non-zero = Inf; every NaN is the canonical 32'h7FC00000.
module fp8_mul #(
    parameter FMT_A = 0,
    parameter FMT_B = 0
) (
    input  [7:0]  a,
    input  [7:0]  b,
    output [31:0] p
);
    localparam MA = FMT_A ? 2 : 3;     // mantissa bits
    localparam EA = 7 - MA;            // exponent bits
    localparam BA = FMT_A ? 15 : 7;    // bias
    localparam MB = FMT_B ? 2 : 3;
    localparam EB = 7 - MB;
    localparam BB = FMT_B ? 15 : 7;

    wire [EA-1:0] ea = a[6:MA];
    wire [MA-1:0] ma = a[MA-1:0];
    wire [EB-1:0] eb = b[6:MB];
    wire [MB-1:0] mb = b[MB-1:0];

    wire a_emax = &ea;
    wire b_emax = &eb;
    // e4m3: only S.1111.111 is NaN and there is no Inf; e5m2: exponent all ones is Inf or NaN
    wire a_nan  = FMT_A ? (a_emax & (|ma)) : (a_emax & (&ma));
    wire b_nan  = FMT_B ? (b_emax & (|mb)) : (b_emax & (&mb));
    wire a_inf  = FMT_A ? (a_emax & ~(|ma)) : 1'b0;
    wire b_inf  = FMT_B ? (b_emax & ~(|mb)) : 1'b0;
    wire a_zero = ~(|a[6:0]);
    wire b_zero = ~(|b[6:0]);
    wire sign   = a[7] ^ b[7];

    // significands (hidden bit 0 for subnormals) and their integer product, at most 8 bits
    wire [MA:0]     sa = {|ea, ma};
    wire [MB:0]     sb = {|eb, mb};
    wire [7:0]      sp = sa * sb;
    // value = sp * 2^(xa + xb), x = (e == 0 ? 1 : e) - bias - mantissa bits; as signed 9-bit
    wire [4:0]        ea5 = FMT_A ? a[6:2] : {1'b0, a[6:3]};   // exponent fields, 5 bits
    wire [4:0]        eb5 = FMT_B ? b[6:2] : {1'b0, b[6:3]};
    wire [4:0]        ua  = (|ea) ? ea5 : 5'd1;
    wire [4:0]        ub  = (|eb) ? eb5 : 5'd1;
    wire signed [8:0] xa  = $signed({4'b0, ua}) - BA - MA;
    wire signed [8:0] xb  = $signed({4'b0, ub}) - BB - MB;

    // position of the product's leading one (sp != 0 when neither operand is zero)
    wire [2:0]        lp = sp[7] ? 3'd7 : sp[6] ? 3'd6 : sp[5] ? 3'd5 : sp[4] ? 3'd4 :
                           sp[3] ? 3'd3 : sp[2] ? 3'd2 : sp[1] ? 3'd1 : 3'd0;
    // FP32 biased exponent: lp + xa + xb + 127, always in 1..254 for a non-zero finite product
    wire signed [9:0] bexp = $signed({7'b0, lp}) + xa + xb + 10'sd127;
    // the bits below the leading one, moved to the top of the 23-bit fraction
    wire [30:0]       frac_w = {sp, 23'b0} >> lp;
    wire [22:0]       frac = frac_w[22:0];

    assign p = (a_nan | b_nan | (a_inf & b_zero) | (b_inf & a_zero)) ? 32'h7FC00000 :
               (a_inf | b_inf)   ? {sign, 8'hFF, 23'b0} :
               (a_zero | b_zero) ? {sign, 31'b0} :
                                   {sign, bexp[7:0], frac};
endmodule

// LANES independent multipliers side by side, so a bench checks many operand pairs per step:
// lane i multiplies a[i*8 +: 8] by b[i*8 +: 8] into p[i*32 +: 32].
module fp8_mul_array #(
    parameter FMT_A = 0,
    parameter FMT_B = 0,
    parameter LANES = 256
) (
    input  [LANES*8-1:0]  a,
    input  [LANES*8-1:0]  b,
    output [LANES*32-1:0] p
);
    genvar i;
    generate
        for (i = 0; i < LANES; i = i + 1) begin : g_lane
            fp8_mul #(.FMT_A(FMT_A), .FMT_B(FMT_B)) u_mul (
                .a(a[i*8 +: 8]),
                .b(b[i*8 +: 8]),
                .p(p[i*32 +: 32])
            );
        end
    endgenerate
endmodule
