//! Normal-distribution helpers: CDF, log-CDF, inverse CDF, and log expected improvement.

use std::f64::consts::{FRAC_1_SQRT_2, PI, SQRT_2};

/// `ln(sqrt(2π))`.
pub const LN_SQRT_2PI: f64 = 0.918_938_533_204_672_8;

/// Standard normal CDF.
pub fn ndtr(z: f64) -> f64 {
    0.5 * libm::erfc(-z * FRAC_1_SQRT_2)
}

/// Standard normal log-density.
pub fn log_phi(z: f64) -> f64 {
    -0.5 * z * z - LN_SQRT_2PI
}

/// `exp(x²)·erfc(x)`, accurate for large positive `x`.
pub fn erfcx(x: f64) -> f64 {
    if x < 25.0 {
        (x * x).exp() * libm::erfc(x)
    } else {
        let x2 = x * x;
        (1.0 - 0.5 / x2 + 0.75 / (x2 * x2)) / (x * PI.sqrt())
    }
}

/// `ln Φ(z)`, accurate far into the lower tail.
pub fn log_ndtr(z: f64) -> f64 {
    if z > -5.0 {
        ndtr(z).ln()
    } else {
        // Φ(z) = ½·erfcx(-z/√2)·exp(-z²/2)
        let t = -z * FRAC_1_SQRT_2;
        (0.5 * erfcx(t)).ln() - 0.5 * z * z
    }
}

/// Inverse of the standard normal CDF (Acklam's rational approximation plus one
/// Halley refinement step; relative error near machine precision).
pub fn ndtri(p: f64) -> f64 {
    if p <= 0.0 {
        return f64::NEG_INFINITY;
    }
    if p >= 1.0 {
        return f64::INFINITY;
    }
    const A: [f64; 6] = [
        -3.969_683_028_665_376e1,
        2.209_460_984_245_205e2,
        -2.759_285_104_469_687e2,
        1.383_577_518_672_69e2,
        -3.066_479_806_614_716e1,
        2.506_628_277_459_239,
    ];
    const B: [f64; 5] = [
        -5.447_609_879_822_406e1,
        1.615_858_368_580_409e2,
        -1.556_989_798_598_866e2,
        6.680_131_188_771_972e1,
        -1.328_068_155_288_572e1,
    ];
    const C: [f64; 6] = [
        -7.784_894_002_430_293e-3,
        -3.223_964_580_411_365e-1,
        -2.400_758_277_161_838,
        -2.549_732_539_343_734,
        4.374_664_141_464_968,
        2.938_163_982_698_783,
    ];
    const D: [f64; 4] = [
        7.784_695_709_041_462e-3,
        3.224_671_290_700_398e-1,
        2.445_134_137_142_996,
        3.754_408_661_907_416,
    ];
    let plow = 0.02425;
    let x = if p < plow {
        let q = (-2.0 * p.ln()).sqrt();
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    } else if p <= 1.0 - plow {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    } else {
        let q = (-2.0 * (1.0 - p).ln()).sqrt();
        -(((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    };
    // One Halley step on Φ(x) - p.
    let e = ndtr(x) - p;
    let u = e * (2.0 * PI).sqrt() * (0.5 * x * x).exp();
    x - u / (1.0 + 0.5 * x * u)
}

/// `ln(Φ(b) - Φ(a))` for `a < b`, stable in both tails.
pub fn log_ndtr_diff(a: f64, b: f64) -> f64 {
    if a <= -9.0 && b >= 9.0 {
        // Both tails below 1.2e-19: the mass is 1 to double precision.
        return 0.0;
    }
    if a <= 0.0 && b >= 0.0 && b - a >= 1.0 {
        // Straddling zero with width >= 1 the mass is >= 0.38: 1 - tails loses nothing.
        return (-(ndtr(a) + ndtr(-b))).ln_1p();
    }
    if a > 0.0 {
        // Use symmetry: Φ(b) - Φ(a) = Φ(-a) - Φ(-b).
        return log_ndtr_diff(-b, -a);
    }
    let lb = log_ndtr(b);
    let la = log_ndtr(a);
    // lb > la; ln(e^lb - e^la) = lb + ln(1 - e^(la-lb))
    let d = la - lb;
    if d > -1e-300 {
        // a and b too close: use density × width.
        return log_phi(0.5 * (a + b)) + (b - a).ln();
    }
    lb + (-d.exp()).ln_1p()
}

/// `ln(e^a + e^b + ...)` of a slice.
pub fn logsumexp(xs: &[f64]) -> f64 {
    let m = xs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if m == f64::NEG_INFINITY {
        return m;
    }
    // Terms more than 40 nats below the maximum change the sum by < 1e-17 relative;
    // skipping them also avoids the slow underflow path of `exp`.
    m + xs
        .iter()
        .filter(|&&x| x - m > -40.0)
        .map(|x| (x - m).exp())
        .sum::<f64>()
        .ln()
}

/// `ln EI` for minimisation with standardised improvement `z = (best - μ)/σ`, without σ:
/// `ln(φ(z) + z·Φ(z))`, stable for very negative `z`.
pub fn log_h(z: f64) -> f64 {
    if z > -1.0 {
        (z * ndtr(z) + (-0.5 * z * z).exp() / (2.0 * PI).sqrt()).ln()
    } else {
        // φ(z)·(1 + z·Φ(z)/φ(z)); Φ(z)/φ(z) = sqrt(π/2)·erfcx(-z/√2)
        let r = (PI / 2.0).sqrt() * erfcx(-z / SQRT_2);
        let inner = 1.0 + z * r;
        let tail = if inner > 1e-12 {
            inner.ln()
        } else {
            -2.0 * (-z).ln()
        };
        log_phi(z) + tail
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ndtri_inverts_ndtr() {
        for &p in &[1e-12, 1e-6, 0.01, 0.2, 0.5, 0.77, 0.99, 1.0 - 1e-9] {
            let x = ndtri(p);
            assert!((ndtr(x) - p).abs() <= 1e-12 * p.max(1e-3), "p={p} x={x}");
        }
        assert!((ndtri(0.975) - 1.959_963_984_540_054).abs() < 1e-10);
    }

    #[test]
    fn log_ndtr_matches_direct_and_tail() {
        for &z in &[-4.9, -1.0, 0.0, 2.0] {
            assert!((log_ndtr(z) - ndtr(z).ln()).abs() < 1e-10);
        }
        // ln Φ(-40) ≈ -804.608 (asymptotic: -z²/2 - ln(-z) - ln√(2π))
        let asym = -800.0 - 40f64.ln() - LN_SQRT_2PI - 1.0 / 1600.0;
        assert!((log_ndtr(-40.0) - asym).abs() < 1e-4, "{}", log_ndtr(-40.0));
    }

    #[test]
    fn log_h_is_continuous_and_matches_closed_form() {
        for &z in &[-0.999, -0.5, 0.0, 1.5] {
            let direct = z * ndtr(z) + (-0.5 * z * z).exp() / (2.0 * PI).sqrt();
            assert!((log_h(z) - direct.ln()).abs() < 1e-9);
        }
        let a = log_h(-1.0 - 1e-9);
        let b = log_h(-1.0 + 1e-9);
        assert!((a - b).abs() < 1e-6, "{a} {b}");
        assert!(log_h(-30.0).is_finite() && log_h(-30.0) < log_h(-29.0));
    }

    #[test]
    fn log_ndtr_diff_both_tails() {
        let d = log_ndtr_diff(-1.0, 1.0);
        assert!((d - (ndtr(1.0) - ndtr(-1.0)).ln()).abs() < 1e-12);
        let far = log_ndtr_diff(30.0, 31.0);
        assert!(far.is_finite() && far < -400.0);
        // Every branch agrees with the direct formula where that is accurate.
        for &(a, b) in &[
            (-0.2, 0.9),
            (-3.0, 0.5),
            (-0.01, 0.01),
            (0.5, 2.0),
            (-12.0, 12.0),
            (-2.0, -0.5),
        ] {
            let direct = (ndtr(b) - ndtr(a)).ln();
            assert!((log_ndtr_diff(a, b) - direct).abs() < 1e-9, "({a}, {b})");
        }
    }
}
