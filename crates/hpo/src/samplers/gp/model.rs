//! Gaussian-process regression with an ARD Matérn-5/2 kernel (Hamming distance for
//! categorical inputs), hyperparameters fitted by maximising the log marginal likelihood
//! plus Optuna's GP priors, with analytic gradients.

// Dense numeric code reads best with explicit indices.
#![allow(clippy::needless_range_loop)]

use super::lbfgs;
use super::linalg::{cholesky, inverse_from_cholesky, solve_lower, solve_upper_t};

const SQRT5: f64 = 2.236_067_977_499_79;
/// Smallest noise variance (outputs are standardised).
pub const MIN_NOISE: f64 = 1e-6;

/// Training inputs (unit-cube encoding; categorical dims hold the index) and outputs.
#[derive(Debug, Clone)]
pub struct Data {
    /// Inputs.
    pub x: Vec<Vec<f64>>,
    /// Standardised outputs.
    pub y: Vec<f64>,
    /// Which dims are categorical.
    pub is_cat: Vec<bool>,
}

/// `k(r²)` and `dk/d(r²)` of the Matérn-5/2 kernel.
fn matern(r2: f64) -> (f64, f64) {
    let r = r2.max(0.0).sqrt();
    let e = (-SQRT5 * r).exp();
    (
        (1.0 + SQRT5 * r + 5.0 / 3.0 * r2) * e,
        -5.0 / 6.0 * (1.0 + SQRT5 * r) * e,
    )
}

fn delta2(a: f64, b: f64, cat: bool) -> f64 {
    if cat {
        f64::from(u8::from(a != b))
    } else {
        (a - b) * (a - b)
    }
}

/// Unpacked hyperparameters: `theta = [ln a_1..ln a_d, ln scale, ln(noise - MIN_NOISE)]`.
#[derive(Debug, Clone)]
pub struct Hyper {
    /// Inverse squared lengthscales.
    pub inv_sq_ls: Vec<f64>,
    /// Kernel (signal) variance.
    pub scale: f64,
    /// Noise variance.
    pub noise: f64,
}

impl Hyper {
    /// From the log-parameter vector.
    pub fn from_theta(t: &[f64]) -> Self {
        let d = t.len() - 2;
        Self {
            inv_sq_ls: t[..d].iter().map(|v| v.clamp(-20.0, 20.0).exp()).collect(),
            scale: t[d].clamp(-20.0, 20.0).exp(),
            noise: MIN_NOISE + t[d + 1].clamp(-30.0, 10.0).exp(),
        }
    }

    /// Default starting point.
    pub fn initial_theta(d: usize) -> Vec<f64> {
        let mut t = vec![0.0; d + 2];
        t[d + 1] = (1e-2f64).ln();
        t
    }
}

/// Negative (log marginal likelihood + log prior) and its gradient w.r.t. `theta`.
pub fn neg_objective(theta: &[f64], data: &Data, d2: &[f64]) -> (f64, Vec<f64>) {
    let n = data.y.len();
    let d = data.is_cat.len();
    let h = Hyper::from_theta(theta);
    let mut k = vec![0.0; n * n];
    let mut dk = vec![0.0; n * n];
    for i in 0..n {
        for j in 0..i {
            let r2: f64 = d2[(i * n + j) * d..(i * n + j + 1) * d]
                .iter()
                .zip(&h.inv_sq_ls)
                .map(|(a, b)| a * b)
                .sum();
            let (kv, dv) = matern(r2);
            k[i * n + j] = h.scale * kv;
            k[j * n + i] = h.scale * kv;
            dk[i * n + j] = h.scale * dv;
        }
        k[i * n + i] = h.scale + h.noise;
    }
    let Some(l) = cholesky(&k, n) else {
        return (f64::INFINITY, vec![0.0; theta.len()]);
    };
    let mut alpha = data.y.clone();
    solve_lower(&l, n, &mut alpha);
    let quad: f64 = alpha.iter().map(|a| a * a).sum();
    solve_upper_t(&l, n, &mut alpha);
    let logdet: f64 = (0..n).map(|i| l[i * n + i].ln()).sum();
    let lml = -0.5 * quad - logdet - 0.5 * n as f64 * (2.0 * std::f64::consts::PI).ln();
    let kinv = inverse_from_cholesky(&l, n);
    // dLML/dθ = ½ Σ W_ij dK_ij/dθ with W = ααᵀ - K⁻¹.
    let mut grad = vec![0.0; theta.len()];
    let mut g_scale = 0.0;
    let mut g_noise = 0.0;
    for i in 0..n {
        for j in 0..i {
            let w = alpha[i] * alpha[j] - kinv[i * n + j];
            // off-diagonal pairs count twice
            let gij = 2.0 * w * dk[i * n + j];
            for (q, dd) in d2[(i * n + j) * d..(i * n + j + 1) * d].iter().enumerate() {
                grad[q] += gij * dd;
            }
            g_scale += 2.0 * w * k[i * n + j];
        }
        let w = alpha[i] * alpha[i] - kinv[i * n + i];
        g_scale += w * h.scale;
        g_noise += w;
    }
    for q in 0..d {
        grad[q] *= 0.5 * h.inv_sq_ls[q];
    }
    grad[d] = 0.5 * g_scale;
    grad[d + 1] = 0.5 * g_noise * (h.noise - MIN_NOISE);
    // Priors (as Optuna's GP sampler): -(0.1/a + 0.1a) per lengthscale,
    // Gamma(2, 1) on the scale, Gamma(1.1, 30) on the noise.
    let mut lp = 0.0;
    for q in 0..d {
        let a = h.inv_sq_ls[q];
        lp -= 0.1 / a + 0.1 * a;
        grad[q] += 0.1 / a - 0.1 * a;
    }
    lp += h.scale.ln() - h.scale;
    grad[d] += 1.0 - h.scale;
    lp += 0.1 * h.noise.ln() - 30.0 * h.noise;
    grad[d + 1] += (0.1 / h.noise - 30.0) * (h.noise - MIN_NOISE);
    (-(lml + lp), grad.iter().map(|g| -g).collect())
}

/// Pairwise per-dimension squared differences (flat `[(i·n + j)·d + q]`, lower triangle).
pub fn pair_deltas(data: &Data) -> Vec<f64> {
    let n = data.x.len();
    let d = data.is_cat.len();
    let mut out = vec![0.0; n * n * d];
    for i in 0..n {
        for j in 0..i {
            for q in 0..d {
                out[(i * n + j) * d + q] = delta2(data.x[i][q], data.x[j][q], data.is_cat[q]);
            }
        }
    }
    out
}

/// Fit hyperparameters starting from `theta0`.
pub fn fit(data: &Data, theta0: Vec<f64>, max_iter: usize) -> Vec<f64> {
    let d2 = pair_deltas(data);
    lbfgs::minimize(|t| neg_objective(t, data, &d2), theta0, max_iter)
}

/// A conditioned GP ready for predictions.
#[derive(Debug, Clone)]
pub struct Posterior {
    x: Vec<Vec<f64>>,
    is_cat: Vec<bool>,
    h: Hyper,
    l: Vec<f64>,
    alpha: Vec<f64>,
}

impl Posterior {
    /// Condition on `data` with hyperparameters `theta` (adds jitter if needed).
    pub fn new(data: &Data, theta: &[f64]) -> Option<Self> {
        let n = data.y.len();
        let mut h = Hyper::from_theta(theta);
        for _ in 0..6 {
            let mut k = vec![0.0; n * n];
            for i in 0..n {
                for j in 0..i {
                    let v = h.scale * kernel_r(&data.x[i], &data.x[j], &data.is_cat, &h.inv_sq_ls);
                    k[i * n + j] = v;
                    k[j * n + i] = v;
                }
                k[i * n + i] = h.scale + h.noise;
            }
            if let Some(l) = cholesky(&k, n) {
                let mut alpha = data.y.clone();
                solve_lower(&l, n, &mut alpha);
                solve_upper_t(&l, n, &mut alpha);
                return Some(Self {
                    x: data.x.clone(),
                    is_cat: data.is_cat.clone(),
                    h,
                    l,
                    alpha,
                });
            }
            h.noise *= 10.0;
        }
        None
    }

    /// Posterior mean and variance of the latent function at `x`.
    pub fn predict(&self, x: &[f64]) -> (f64, f64) {
        let n = self.x.len();
        let mut ks: Vec<f64> = self
            .x
            .iter()
            .map(|xi| self.h.scale * kernel_r(xi, x, &self.is_cat, &self.h.inv_sq_ls))
            .collect();
        let mean: f64 = ks.iter().zip(&self.alpha).map(|(a, b)| a * b).sum();
        solve_lower(&self.l, n, &mut ks);
        let v: f64 = ks.iter().map(|a| a * a).sum();
        (mean, (self.h.scale - v).max(1e-12))
    }
}

fn kernel_r(a: &[f64], b: &[f64], is_cat: &[bool], inv_sq_ls: &[f64]) -> f64 {
    let r2: f64 = (0..a.len())
        .map(|q| inv_sq_ls[q] * delta2(a[q], b[q], is_cat[q]))
        .sum();
    matern(r2).0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toy() -> Data {
        let x: Vec<Vec<f64>> = (0..8)
            .map(|i| vec![i as f64 / 7.0, (i * 3 % 8) as f64 / 7.0])
            .collect();
        let y: Vec<f64> = x
            .iter()
            .map(|p| (3.0 * p[0]).sin() + p[1] * p[1] - 0.4)
            .collect();
        Data {
            x,
            y,
            is_cat: vec![false, false],
        }
    }

    #[test]
    fn gradient_matches_finite_differences() {
        let data = toy();
        let d2 = pair_deltas(&data);
        let theta = vec![0.3, -0.2, 0.1, -3.0];
        let (_, g) = neg_objective(&theta, &data, &d2);
        for q in 0..theta.len() {
            let mut tp = theta.clone();
            let mut tm = theta.clone();
            tp[q] += 1e-6;
            tm[q] -= 1e-6;
            let fd = (neg_objective(&tp, &data, &d2).0 - neg_objective(&tm, &data, &d2).0) / 2e-6;
            assert!(
                (fd - g[q]).abs() < 1e-4 * (1.0 + fd.abs()),
                "q={q} fd={fd} g={}",
                g[q]
            );
        }
    }

    #[test]
    fn fitted_posterior_interpolates_training_points() {
        let data = toy();
        let theta = fit(&data, Hyper::initial_theta(2), 100);
        let (f0, _) = neg_objective(&Hyper::initial_theta(2), &data, &pair_deltas(&data));
        let (f1, _) = neg_objective(&theta, &data, &pair_deltas(&data));
        assert!(f1 < f0);
        let post = Posterior::new(&data, &theta).expect("posterior");
        for (x, y) in data.x.iter().zip(&data.y) {
            let (m, v) = post.predict(x);
            assert!((m - y).abs() < 0.05, "{m} vs {y}");
            assert!(v < 0.05);
        }
    }
}
