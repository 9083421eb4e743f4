//! Dense symmetric positive-definite helpers (row-major `n×n` in a flat `Vec`).

// Dense numeric code reads best with explicit indices.
#![allow(clippy::needless_range_loop)]

/// Lower Cholesky factor of `a` (row-major), or `None` if not positive definite.
pub fn cholesky(a: &[f64], n: usize) -> Option<Vec<f64>> {
    let mut l = vec![0.0; n * n];
    for i in 0..n {
        for j in 0..=i {
            let mut s = a[i * n + j];
            let (ri, rj) = (&l[i * n..i * n + j], &l[j * n..j * n + j]);
            for k in 0..j {
                s -= ri[k] * rj[k];
            }
            if i == j {
                if s <= 0.0 || !s.is_finite() {
                    return None;
                }
                l[i * n + i] = s.sqrt();
            } else {
                l[i * n + j] = s / l[j * n + j];
            }
        }
    }
    Some(l)
}

/// Solve `L x = b` in place (forward substitution).
pub fn solve_lower(l: &[f64], n: usize, b: &mut [f64]) {
    for i in 0..n {
        let row = &l[i * n..i * n + i];
        let mut s = b[i];
        for k in 0..i {
            s -= row[k] * b[k];
        }
        b[i] = s / l[i * n + i];
    }
}

/// Solve `Lᵀ x = b` in place (back substitution).
pub fn solve_upper_t(l: &[f64], n: usize, b: &mut [f64]) {
    for i in (0..n).rev() {
        let mut s = b[i];
        for k in i + 1..n {
            s -= l[k * n + i] * b[k];
        }
        b[i] = s / l[i * n + i];
    }
}

/// `A⁻¹` from the Cholesky factor of `A`.
pub fn inverse_from_cholesky(l: &[f64], n: usize) -> Vec<f64> {
    // L⁻¹ row by row (each row is a combination of earlier rows: contiguous access),
    // then A⁻¹ = L⁻ᵀ L⁻¹ accumulated one row of L⁻¹ at a time.
    let mut linv = vec![0.0; n * n];
    for i in 0..n {
        let (done, rest) = linv.split_at_mut(i * n);
        let row = &mut rest[..n];
        for k in 0..i {
            let c = l[i * n + k];
            if c != 0.0 {
                let src = &done[k * n..k * n + k + 1];
                for (r, s) in row[..=k].iter_mut().zip(src) {
                    *r -= c * s;
                }
            }
        }
        let d = 1.0 / l[i * n + i];
        row[..i].iter_mut().for_each(|r| *r *= d);
        row[i] = d;
    }
    let mut inv = vec![0.0; n * n];
    for k in 0..n {
        let r = &linv[k * n..k * n + k + 1];
        for i in 0..=k {
            let a = r[i];
            let dst = &mut inv[i * n..i * n + i + 1];
            for (d, b) in dst.iter_mut().zip(&r[..=i]) {
                *d += a * b;
            }
        }
    }
    for i in 0..n {
        for j in 0..i {
            inv[j * n + i] = inv[i * n + j];
        }
    }
    inv
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cholesky_solves_and_inverts() {
        let a = vec![4.0, 2.0, 0.6, 2.0, 5.0, 1.0, 0.6, 1.0, 3.0];
        let l = cholesky(&a, 3).expect("spd");
        let mut x = vec![1.0, 2.0, 3.0];
        solve_lower(&l, 3, &mut x);
        solve_upper_t(&l, 3, &mut x);
        for i in 0..3 {
            let ax: f64 = (0..3).map(|j| a[i * 3 + j] * x[j]).sum();
            assert!((ax - (i + 1) as f64).abs() < 1e-12);
        }
        let inv = inverse_from_cholesky(&l, 3);
        for i in 0..3 {
            for j in 0..3 {
                let p: f64 = (0..3).map(|k| a[i * 3 + k] * inv[k * 3 + j]).sum();
                assert!((p - f64::from(u8::from(i == j))).abs() < 1e-12);
            }
        }
        assert!(cholesky(&[1.0, 2.0, 2.0, 1.0], 2).is_none());
    }
}
